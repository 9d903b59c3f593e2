#!/usr/bin/env node
/**
 * The CUDA VAE decode against the CPU backend's (the fp32 reference), on the GPU machine (scripts/gpu-check.sh's
 * `vae` step and scripts/gpu-multi.sh's `vae-multi` step run it after building the addon; plain Node ESM over dist/).
 * Every run takes zero DiT steps, so the decode reads the given latent (scripts/gpu/vae-common.mjs):
 *
 * 1. golden: the goldens' tiny decoder (test/fixtures/goldens/vae: widths 4/8/16, 2 groups, head dim 16) on both
 *    golden cases' latents with the golden weights, fp32 and bf16 plans: the CUDA video against the CPU video of
 *    the same plan, and both against the PyTorch float64 golden output; per op kind, the worst error of the op
 *    outputs captured after each decode op (CUDA against CPU).
 * 2. full: the full-size SD-VAE decoder (sd-vae-ft-ema, `checkpoint: random`) on a --frames x --size x --size
 *    video (default 2 x 256 x 256), fp32 and bf16 plans, the same comparisons (captures of the op outputs of at
 *    most 4.5M values: the lower levels).
 * 3. patch: the decode split by rows over 2 and 4 GPUs (as many as the machine has; the DiT layouts cfg 2 and
 *    cfg 2 x ring 2, whose ranks all hold the final latent): rank 0's video against one GPU's, for the full-size
 *    decoder in bf16 and the tiny one in fp32 (every band of the golden case one latent row on 4 GPUs).
 *
 * Bounds, max|a − b| / max|b| of the videos: fp32 1e-4, bf16 2e-2 (the per-op errors of fp32 plans too). Fails
 * (exit 1) when one is exceeded, a video holds a non-finite value, or a run fails. `--backend cpu` replaces CUDA
 * by the CPU backend (every error then 0, the patch runs over the CPU transport): a check of this script on a
 * machine without a GPU. Writes its figures as JSON to --json FILE (default $OUT/check-vae.json when $OUT is set).
 *
 *   node scripts/gpu/check-vae.mjs [--backend cuda|cpu] [--device N] [--frames 2] [--size 256]
 *                                  [--only golden,full,patch] [--gpus N] [--json FILE]
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs as parseCommandLine } from "node:util";
import {
  captureErrors,
  compilePipeline,
  countGpus,
  decodeCaptures,
  fmtErr,
  GOLDEN_SIDECAR,
  GOLDEN_VAE_DIR,
  GOLDEN_WEIGHTS,
  goldenDecodePlan,
  inputsOf,
  maxRelativeError,
  messageOf,
  readTensors,
  runRanks,
  vaePipeline,
} from "./vae-common.mjs";

const dist = (path) => import(new URL(`../../dist/${path}`, import.meta.url).href);
const { canonicalJson } = await dist("compiler/plan/serialize.js");
const { loadNative } = await dist("runtime/native/addon.js");

const BOUND = { fp32: 1e-4, bf16: 2e-2 };
const CAPTURE_VALUES = 4_500_000;

function parseArgs(argv) {
  const { values } = parseCommandLine({
    args: argv,
    options: {
      backend: { type: "string", default: "cuda" },
      device: { type: "string", default: "0" },
      frames: { type: "string", default: "2" },
      size: { type: "string", default: "256" },
      only: { type: "string" },
      gpus: { type: "string" },
      json: { type: "string" },
    },
  });
  const args = {
    backend: values.backend,
    device: Number(values.device),
    frames: Number(values.frames),
    size: Number(values.size),
    only: values.only?.split(","),
    gpus: values.gpus === undefined ? undefined : Number(values.gpus),
    json: values.json ?? (process.env.OUT ? join(process.env.OUT, "check-vae.json") : undefined),
  };
  if (args.backend !== "cuda" && args.backend !== "cpu") throw new Error(`--backend must be cuda or cpu, not ${args.backend}`);
  if (!Number.isSafeInteger(args.frames) || args.frames < 1) throw new Error("--frames needs a whole number of at least 1");
  if (!Number.isSafeInteger(args.size) || args.size < 64 || args.size % 32 !== 0) throw new Error("--size needs a multiple of 32, at least 64 (the latent must split over 4 ranks)");
  return args;
}

const native = loadNative();
const cases = [];
const failures = [];

function videoOf(result) {
  const v = result.outputs.find((o) => o.name === "video");
  if (!v) throw new Error(`no video output (the outputs are ${result.outputs.map((o) => o.name).join(", ")})`);
  return v.data;
}

function nonFinite(data) {
  let n = 0;
  for (const v of data) if (!Number.isFinite(v)) n++;
  return n;
}

/** Records a comparison: `error` against `bound` (undefined: reported only). */
function record(row) {
  const bad = (row.bound !== undefined && !(row.error <= row.bound)) || row.nonFinite > 0;
  row.status = row.bound === undefined ? "info" : bad ? "FAIL" : "ok";
  cases.push(row);
  if (bad) failures.push(`${row.section} ${row.name}: max rel error ${fmtErr(row.error)} (bound ${row.bound})${row.nonFinite ? `, ${row.nonFinite} non-finite values` : ""}`);
  const ops = row.perOp ? `  per op: ${Object.entries(row.perOp).map(([k, v]) => `${k} ${fmtErr(v.error)}`).join(", ")}` : "";
  console.log(`${row.status.padEnd(4)} ${row.section.padEnd(7)} ${row.name.padEnd(58)} ${fmtErr(row.error).padStart(9)}${row.bound !== undefined ? ` (bound ${row.bound})` : ""}${ops}`);
}

function fail(section, name, e) {
  const message = messageOf(e);
  cases.push({ section, name, status: "FAIL", error: null, message });
  failures.push(`${section} ${name}: ${message}`);
  console.log(`FAIL ${section.padEnd(7)} ${name}: ${message.split("\n")[0]}`);
}

/** Runs one rank in this process: { video, captures }. */
async function runHere(request, backend, device) {
  const side = backend === "cuda" ? { backend: "cuda", device } : { backend: "cpu" };
  const result = await native.run({ ...request, ...side });
  return { video: videoOf(result), captures: result.captures };
}

/** The CPU reference and the checked backend on one plan; compares videos (and captures, and the golden). */
async function compareBackends(section, name, dtype, request, kinds, golden, args) {
  const reference = await runHere(request, "cpu", 0);
  const got = await runHere(request, args.backend, args.device);
  const perOp = request.captures?.length ? captureErrors(got.captures, reference.captures, request.captures, kinds) : undefined;
  const row = { section, name, dtype, error: maxRelativeError(got.video, reference.video), bound: BOUND[dtype], nonFinite: nonFinite(got.video), perOp };
  record(row);
  if (dtype === "fp32" && perOp) {
    for (const [kind, { error, op }] of Object.entries(perOp))
      if (!(error <= BOUND.fp32)) failures.push(`${section} ${name}: op ${op} (${kind}) max rel error ${fmtErr(error)} (bound ${BOUND.fp32})`);
  }
  if (golden) {
    record({ section, name: `${name}: CPU against the float64 golden`, dtype, error: maxRelativeError(reference.video, golden) });
    record({ section, name: `${name}: ${args.backend} against the float64 golden`, dtype, error: maxRelativeError(got.video, golden) });
  }
  return got.video;
}

async function goldenSection(args) {
  const golden = await readTensors(join(GOLDEN_VAE_DIR, GOLDEN_SIDECAR.file));
  for (const [i, c] of GOLDEN_SIDECAR.cases.entries()) {
    for (const dtype of ["fp32", "bf16"]) {
      const name = `tiny decoder, case ${i}: ${c.frames} x ${c.image.height} x ${c.image.width}, ${dtype}`;
      try {
        const { plan } = compilePipeline(vaePipeline({ frames: c.frames, height: c.image.height, width: c.image.width, dtype }));
        const text = await goldenDecodePlan(plan);
        const parsed = JSON.parse(text);
        const { specs, kinds } = decodeCaptures(parsed);
        const request = {
          plan: text,
          weights: { kind: "random", seed: 0 },
          inputs: { noise: golden.get(`case.${i}.input.latent`), labels: Int32Array.from([3]) },
          steps: 0,
          decodeWeights: { kind: "file", path: GOLDEN_WEIGHTS, ignore: [] },
          captures: specs,
        };
        await compareBackends("golden", name, dtype, request, kinds, golden.get(`case.${i}.output`), args);
      } catch (e) {
        fail("golden", name, e);
      }
    }
  }
}

async function fullSection(args) {
  const videos = {};
  for (const dtype of ["fp32", "bf16"]) {
    const name = `sd-vae-ft-ema (random weights), ${args.frames} x ${args.size} x ${args.size}, ${dtype}`;
    try {
      const { plan, spec } = compilePipeline(vaePipeline({ frames: args.frames, height: args.size, width: args.size, dtype }));
      const { specs, kinds } = decodeCaptures(plan, CAPTURE_VALUES);
      const request = { plan: canonicalJson(plan), weights: { kind: "random", seed: plan.model.weightsSeed }, inputs: await inputsOf(spec, plan), steps: 0, captures: specs };
      videos[dtype] = await compareBackends("full", name, dtype, request, kinds, undefined, args);
    } catch (e) {
      fail("full", name, e);
    }
  }
  return videos;
}

/** The decode split over `world` ranks against one rank's, same dtype. */
async function patchCase(name, world, oneRank, requestOf, dtype, args) {
  try {
    const answers = await runRanks(world, (rank) => ({ ...requestOf(rank), ...(args.backend === "cuda" ? { backend: "cuda", device: rank } : { backend: "cpu", threads: 2 }) }), { outputs: "all" });
    const video = answers[0].outputs.find((o) => o.name === "video");
    if (!video) throw new Error("rank 0 returned no video");
    const others = answers.slice(1).filter((a) => a.outputs.some((o) => o.name === "video")).map((a) => a.rank);
    if (others.length > 0) throw new Error(`ranks ${others.join(", ")} returned a video too (only the decode group's first member should)`);
    record({ section: "patch", name, dtype, error: maxRelativeError(video.data, oneRank), bound: BOUND[dtype], nonFinite: nonFinite(video.data), world });
  } catch (e) {
    fail("patch", name, e);
  }
}

async function patchSection(args, fullVideos) {
  const gpus = args.backend === "cuda" ? (args.gpus ?? (await countGpus())) : 4;
  const worlds = [2, 4].filter((w) => w <= gpus);
  if (worlds.length === 0) {
    console.log(`patch: not run: this machine has ${gpus} GPU${gpus === 1 ? "" : "s"} (scripts/gpu-multi.sh's vae-multi step runs it on 4)`);
    return { skipped: `${gpus} GPU(s)` };
  }
  // The full-size decoder in bf16, against one GPU's video of the same latent (section 2's, or made now).
  let one = fullVideos.bf16;
  const fullPlan = (world) => compilePipeline(vaePipeline({ frames: args.frames, height: args.size, width: args.size, dtype: "bf16", world }));
  const fullRequest = async (compiled) => ({ plan: canonicalJson(compiled.plan), weights: { kind: "random", seed: compiled.plan.model.weightsSeed }, inputs: await inputsOf(compiled.spec, compiled.plan), steps: 0 });
  if (!one) {
    const compiled = fullPlan(1);
    one = (await runHere(await fullRequest(compiled), args.backend, args.device)).video;
  }
  for (const world of worlds) {
    const compiled = fullPlan(world);
    if (compiled.plan.decode.split.kind !== "patch") throw new Error(`the ${world}-rank plan's decode is split ${compiled.plan.decode.split.kind}, not patch`);
    const request = await fullRequest(compiled);
    await patchCase(`sd-vae-ft-ema bf16 ${args.frames} x ${args.size}², rows over ${world} ranks`, world, one, () => request, "bf16", args);
  }
  // The tiny decoder in fp32 on golden case 0 (latent height 4: one row a rank on 4).
  const golden = await readTensors(join(GOLDEN_VAE_DIR, GOLDEN_SIDECAR.file));
  const c = GOLDEN_SIDECAR.cases[0];
  const tinyRequest = async (world) => {
    const { plan } = compilePipeline(vaePipeline({ frames: c.frames, height: c.image.height, width: c.image.width, dtype: "fp32", world }));
    return {
      plan: await goldenDecodePlan(plan),
      weights: { kind: "random", seed: 0 },
      inputs: { noise: golden.get("case.0.input.latent"), labels: Int32Array.from([3]) },
      steps: 0,
      decodeWeights: { kind: "file", path: GOLDEN_WEIGHTS, ignore: [] },
    };
  };
  const tinyOne = (await runHere(await tinyRequest(1), args.backend, args.device)).video;
  for (const world of worlds) {
    const request = await tinyRequest(world);
    await patchCase(`tiny decoder fp32, golden case 0, rows over ${world} ranks`, world, tinyOne, () => request, "fp32", args);
  }
  return { worlds };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const info = native.info();
  console.log(`addon ${info.version}: cuda ${info.backends.cuda.built ? "built" : "not built"} (${info.backends.cuda.reason}); checked backend ${args.backend}`);
  const wanted = (s) => !args.only || args.only.includes(s);
  let patch;
  let fullVideos = {};
  if (wanted("golden")) await goldenSection(args);
  if (wanted("full")) fullVideos = await fullSection(args);
  if (wanted("patch")) {
    try {
      patch = await patchSection(args, fullVideos);
    } catch (e) {
      fail("patch", "setup", e);
    }
  }
  if (args.json) {
    writeFileSync(args.json, `${JSON.stringify({ check: "opendit-vae-decode", backend: args.backend, bounds: BOUND, frames: args.frames, size: args.size, addon: info, patch, cases, failures }, null, 2)}\n`);
  }
  console.log(`\ncheck-vae: ${cases.filter((c) => c.status === "ok").length} comparisons within bounds, ${failures.length} failure${failures.length === 1 ? "" : "s"}`);
  for (const f of failures) console.log(`  FAIL ${f.split("\n")[0].slice(0, 200)}`);
  process.exitCode = failures.length > 0 ? 1 : 0;
}

main().catch((error) => {
  console.error(`check-vae failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exitCode = 2;
});
