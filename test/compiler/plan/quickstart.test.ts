/**
 * The CPU quickstart (pipelines/quickstart.yaml and .odit) needs no text encoder: its tiny STDiT reads 8 tokens
 * of 32-channel features from the committed pipelines/quickstart-text.safetensors (`conditioning.embeddings`).
 * Both twins check clean against the real file system, the plan takes one sample whose text rows come from that
 * file and whose unconditional rows are the null caption, and the file holds exactly what
 * test/reference/make-quickstart-text.mjs documents: the plan's text rows, drawn by the checkpoint generator.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { fillNormals, tensorKey } from "../../../checkpoint/generator.js";
import { openSafetensors } from "../../../checkpoint/safetensors.js";
import { compile } from "../../../compiler/compile.js";
import type { Plan } from "../../../compiler/plan/types.js";

const pipeline = (name: string): { path: string; text: string } => {
  const path = fileURLToPath(new URL(`../../../pipelines/${name}`, import.meta.url));
  return { path, text: readFileSync(path, "utf8") };
};

/** Compiled with the real file system: the embeddings file must be found next to the pipeline. */
function compiled(name: string): Plan {
  const r = compile(pipeline(name));
  expect(r.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([]);
  if (!r.plan) throw new Error(`${name}: no plan`);
  return r.plan;
}

const plan = compiled("quickstart.yaml");
const L = 8;
const C = 32;
/** Valid tokens of the one sample, as make-quickstart-text.mjs writes them. */
const VALID = 5;

describe("pipelines/quickstart", () => {
  it("checks clean in both syntaxes, with no text encoder, and lowers both to one plan", () => {
    for (const name of ["quickstart.yaml", "quickstart.odit"]) {
      const { text } = pipeline(name);
      expect(text, name).toContain("quickstart-text.safetensors");
      expect(text, name).not.toMatch(/prompts|text_encoder|t5-v1_1-xxl/);
    }
    expect(compiled("quickstart.odit").hash).toBe(plan.hash);
  });

  it("runs one sample, its text from the embeddings file, the null caption on the unconditional row", () => {
    expect(plan.model).toMatchObject({ family: "stdit", variant: "stdit-tiny", checkpoint: "random" });
    expect(plan.model.hyper).toMatchObject({ captionChannels: C, textTokens: L });
    expect(plan.geometry).toMatchObject({ samples: 1, batch: 2 });
    expect(plan.buffers.find((b) => b.name === "text")).toMatchObject({ shape: [2, L, C], dtype: "f32", role: "input" });
    expect(plan.buffers.find((b) => b.name === "text.mask")).toMatchObject({ shape: [2, L], dtype: "i32", role: "input" });
    expect(plan.inputs.filter((i) => i.buffer.startsWith("text"))).toEqual([
      { buffer: "text", rows: { first: 0, count: 1 }, source: "text" },
      { buffer: "text.mask", rows: { first: 0, count: 1 }, source: "text-mask" },
      { buffer: "text", rows: { first: 1, count: 1 }, source: "null-text" },
      { buffer: "text.mask", rows: { first: 1, count: 1 }, source: "text-mask" },
    ]);
    expect(plan.weights.find((w) => w.name === "y_embedder.y_embedding")?.shape).toEqual([L, C]);
  });

  it("ships the text file the plan reads: `y` and `mask` of one sample, from the documented generator", async () => {
    const reader = await openSafetensors(pipeline("quickstart-text.safetensors").path);
    try {
      const byName = new Map(reader.header.tensors.map((t) => [t.name, t]));
      expect([...byName.keys()].sort()).toEqual(["mask", "y"]);
      const textRows = plan.buffers.find((b) => b.name === "text")!.shape.slice(1);
      const maskRows = plan.buffers.find((b) => b.name === "text.mask")!.shape.slice(1);
      expect(byName.get("y")).toMatchObject({ dtype: "F32", shape: [plan.geometry.samples, ...textRows] });
      expect(byName.get("mask")).toMatchObject({ dtype: "I32", shape: [plan.geometry.samples, ...maskRows] });

      const mask = [...(await reader.readF32("mask"))];
      expect(mask).toEqual([...Array<number>(VALID).fill(1), ...Array<number>(L - VALID).fill(0)]);
      const expected = new Float32Array(L * C);
      fillNormals(tensorKey(0, "y"), expected, (z) => z);
      expected.fill(0, VALID * C);
      expect(await reader.readF32("y")).toEqual(expected);
      expect(reader.header.metadata).toMatchObject({ "opendit.generator": "opendit-random-v1", "opendit.seed": "0" });
    } finally {
      await reader.close();
    }
  });
});
