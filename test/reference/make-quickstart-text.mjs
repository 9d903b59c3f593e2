#!/usr/bin/env node
// Writes pipelines/quickstart-text.safetensors, the precomputed text features pipelines/quickstart.yaml and
// quickstart.odit read through `conditioning.embeddings`, so the CPU quickstart needs no T5-XXL:
//   y     [1, L, C] float32  the features of one sample, L x C the text size of the registry's `stdit-tiny`
//                            (8 tokens x 32 channels); standard normals on the first VALID tokens, zeros after
//   mask  [1, L]    int32    1 on the first VALID tokens, 0 on the padding
// The normals come from the project's documented generator (checkpoint/README.md, opendit-random-v1): the stream
// of `key(SEED, "y")`, so the file is the same on every machine and the native side can draw it again.
// The bytes are written by checkpoint/safetensors-write.ts (sorted tensors, padded header: same input, same file).
//
// It reads the built project (dist/, made by `npm run build`); OPENDIT_DIST points at another build.
//   npm run build && node test/reference/make-quickstart-text.mjs
import { fileURLToPath, pathToFileURL } from "node:url";

const here = new URL(".", import.meta.url);
const dist = process.env.OPENDIT_DIST ? pathToFileURL(`${process.env.OPENDIT_DIST.replace(/\/$/, "")}/`) : new URL("../../dist/", here);
const { familyInfo } = await import(new URL("compiler/index.js", dist).href);
const { fillNormals, tensorKey } = await import(new URL("checkpoint/generator.js", dist).href);
const { encodeF32 } = await import(new URL("checkpoint/dtype.js", dist).href);
const { writeSafetensors } = await import(new URL("checkpoint/safetensors-write.js", dist).href);

const FAMILY = "stdit";
const VARIANT = "stdit-tiny";
const SEED = 0;
/** Valid tokens of the one sample: a short prompt's worth; the rest is padding the model masks out. */
const VALID = 5;

const family = familyInfo(FAMILY);
const hyper = family.resolve(family.variants[VARIANT]);
const L = hyper.textTokens;
const C = hyper.captionChannels;
if (!(VALID > 0 && VALID < L)) throw new Error(`${VARIANT} has ${L} text tokens; ${VALID} valid ones leave no padding`);

const y = new Float32Array(L * C);
fillNormals(tensorKey(SEED, "y"), y, (z) => z);
y.fill(0, VALID * C);
const mask = new Uint8Array(4 * L);
const view = new DataView(mask.buffer);
for (let i = 0; i < VALID; i++) view.setInt32(4 * i, 1, true);

const out = fileURLToPath(new URL("../../pipelines/quickstart-text.safetensors", here));
const bytes = await writeSafetensors(
  out,
  [
    { name: "y", dtype: "F32", shape: [1, L, C] },
    { name: "mask", dtype: "I32", shape: [1, L] },
  ],
  (t) => (t.name === "y" ? encodeF32(y, "fp32") : mask),
  {
    "opendit.generator": "opendit-random-v1",
    "opendit.seed": String(SEED),
    "opendit.text": `${VARIANT}: ${L} tokens x ${C} channels, ${VALID} valid`,
    source: "test/reference/make-quickstart-text.mjs",
  },
);
console.log(`wrote ${out}: y [1, ${L}, ${C}] F32, mask [1, ${L}] I32 (${VALID} valid), ${bytes} bytes`);
