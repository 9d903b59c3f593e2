#!/usr/bin/env node
/**
 * opendit's CUDA step time on the benchmark shapes (scripts/gpu-check.sh runs it on the GPU machine; plain Node
 * ESM over dist/): STDiT-XL/2 (Open-Sora 1.0) at 16x512x512 and 80x512x512 with a T5-shaped random text
 * ([1, 120, 4096], written on the fly as a safetensors file and read as `opendit run` reads it), and DiT-XL/2 at
 * 256 and 512 with one label; all bf16, `checkpoint: random`, one rank, IDDPM with guidance (the CFG batch of 2:
 * conditional and unconditional rows in one forward, as a one-GPU run of pipelines/opensora-dsp.yaml does).
 *
 * Each case is one native run of 1 + --steps steps (default 5): the first step is the warm-up, the figure is the
 * median of the others' `timings.perStep` (the native loop's per-step time, which synchronises the device at the
 * end of each step). Reported: ms per step (median, min), TFLOP/s from the plan's `cost.flopsPerStep`, the
 * compiler's own estimate of a step, the device bytes the run held (`deviceBytes`), setup seconds. Writes the
 * figures as JSON to --json FILE (default $OUT/opendit-cuda.json when $OUT is set) and prints a table last.
 *
 * `--backend cpu` runs the same on the CPU backend, `--smoke` swaps the models for the tiny variants at small
 * sizes: together, a check of this script on a machine without a GPU. `--write-shapes FILE` runs nothing: it
 * writes each case's architecture (registry hyperparameters and checkpoint table), geometry and FLOPs per step
 * as JSON for bench/pytorch_baseline.py, which builds the same models in PyTorch.
 *
 *   node scripts/gpu/bench-cuda.mjs [--backend cuda|cpu] [--device N] [--steps N] [--gpu h100|h200]
 *                                   [--only name,...] [--smoke] [--json FILE] [--write-shapes FILE]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs as parseCommandLine } from "node:util";

const dist = (path) => import(new URL(`../../dist/${path}`, import.meta.url).href);
const { compile } = await dist("compiler/compile.js");
const { canonicalJson } = await dist("compiler/plan/serialize.js");
const { knownFamilies } = await dist("compiler/models/registry.js");
const { loadNative } = await dist("runtime/native/addon.js");
const { runInputs, needsNegativeText } = await dist("runtime/run/inputs.js");
const { fillNormals, tensorKey } = await dist("checkpoint/generator.js");
const { writeSafetensors } = await dist("checkpoint/safetensors-write.js");

/** The command line, through node:util parseArgs (unknown flags and missing values are its errors). */
function parseArgs(argv) {
  const { values } = parseCommandLine({
    args: argv,
    options: {
      backend: { type: "string", default: "cuda" },
      device: { type: "string", default: "0" },
      steps: { type: "string", default: "5" },
      gpu: { type: "string", default: "h100" },
      only: { type: "string" },
      smoke: { type: "boolean", default: false },
      json: { type: "string" },
      "write-shapes": { type: "string" },
    },
  });
  const args = {
    backend: values.backend,
    device: Number(values.device),
    steps: Number(values.steps),
    gpu: values.gpu,
    only: values.only?.split(","),
    smoke: values.smoke,
    json: values.json ?? (process.env.OUT ? join(process.env.OUT, "opendit-cuda.json") : undefined),
    writeShapes: values["write-shapes"],
  };
  if (args.backend !== "cuda" && args.backend !== "cpu") throw new Error(`--backend must be cuda or cpu, not ${args.backend}`);
  if (!Number.isSafeInteger(args.steps) || args.steps < 1) throw new Error("--steps needs a whole number of at least 1");
  return args;
}

/** The embeddings file's name in a case's pipeline text, replaced by the written file's path. */
const EMBEDDINGS = "@EMBEDDINGS@";

/** The benchmark cases; `--smoke` gives the same structure with the tiny variants at small sizes. */
function benchCases(smoke, gpu) {
  const stdit = (name, frames, size) => ({
    name,
    family: "stdit",
    text: `version: 1
name: bench-${name}
model: { family: stdit, variant: ${smoke ? "stdit-tiny" : "STDiT-XL/2"}, checkpoint: random, weights_seed: 1, dtype: bf16 }
conditioning: { embeddings: ${EMBEDDINGS} }
video: { frames: ${frames}, height: ${size}, width: ${size}, fps: 8 }
seed: 42
scheduler: { kind: iddpm, steps: 100, guidance: 7.0 }
vae: { kind: none }
output: { dir: outputs/bench, formats: [latents] }
runtime: { gpu: ${gpu} }
`,
    // Open-Sora 1.0 positions: idx / space_scale with space_scale = height / 512 (0.5 at 256², 1 at 512²).
    settings: { space_scale: size / 512, time_scale: 1.0 },
  });
  const dit = (name, size) => ({
    name,
    family: "dit",
    text: `version: 1
name: bench-${name}
model: { family: dit, variant: ${smoke ? "dit-tiny" : "DiT-XL/2"}, checkpoint: random, weights_seed: 1, dtype: bf16 }
conditioning: { labels: [${smoke ? 7 : 207}] }
image: { height: ${size}, width: ${size} }
seed: 0
scheduler: { kind: iddpm, steps: 250, guidance: 4.0 }
vae: { kind: none }
output: { dir: outputs/bench, formats: [latents] }
runtime: { gpu: ${gpu} }
`,
    settings: {},
  });
  return smoke
    ? [dit("dit-xl-2-256", 64), dit("dit-xl-2-512", 128), stdit("stdit-xl-2-16x512", 4, 64), stdit("stdit-xl-2-80x512", 8, 64)]
    : [dit("dit-xl-2-256", 256), dit("dit-xl-2-512", 512), stdit("stdit-xl-2-16x512", 16, 512), stdit("stdit-xl-2-80x512", 80, 512)];
}

function compiled(text) {
  const r = compile(text, { mode: "run", fileExists: () => true });
  const errors = r.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !r.plan || !r.spec) throw new Error(`the pipeline did not compile: ${errors.map((d) => `${d.code} ${d.message}`).join("; ")}`);
  return { plan: r.plan, spec: r.spec };
}

function normals(seed, name, count) {
  const out = new Float32Array(count);
  fillNormals(tensorKey(seed, name), out, (z) => z);
  return out;
}

/** A T5-shaped embeddings file for the plan: `y` (and `negative_y`) [1, L, C] normals, `mask` [1, L] all ones. */
async function writeEmbeddings(plan, path) {
  const { textTokens: L, captionChannels: C } = plan.model.hyper;
  const values = new Map([
    ["y", normals(1, "bench/y", L * C)],
    ["mask", Int32Array.from({ length: L }, () => 1)],
  ]);
  if (needsNegativeText(plan)) values.set("negative_y", normals(1, "bench/negative_y", L * C));
  const tensors = [...values.entries()].map(([name, v]) => ({ name, dtype: v instanceof Int32Array ? "I32" : "F32", shape: name === "mask" ? [1, L] : [1, L, C] }));
  await writeSafetensors(path, tensors, (t) => {
    const v = values.get(t.name);
    return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  });
}

/** What bench/pytorch_baseline.py needs to build the same model on the same shapes. */
function shapeOf(c, plan) {
  const family = knownFamilies().find((f) => f.family === plan.model.family);
  if (!family) throw new Error(`no registry family ${plan.model.family}`);
  const hyper = family.resolve(family.variants[plan.model.variant]);
  const g = plan.geometry;
  return {
    name: c.name,
    family: plan.model.family,
    variant: plan.model.variant,
    hyper,
    weights: family.weights(hyper).map((w) => ({ name: w.name, shape: [...w.shape] })),
    samples: g.samples,
    batch: g.batch,
    frames: g.frames,
    height: g.height,
    width: g.width,
    latent: g.latent,
    tokens: g.tokens,
    settings: c.settings,
    flopsPerStep: plan.cost.flopsPerStep,
    guidance: plan.schedule.guidance?.scale ?? null,
  };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const messageOf = (e) => (e instanceof Error ? e.message : String(e));
const tflopsText = (x) => (x >= 10 ? x.toFixed(1) : x.toPrecision(2));
const gib = (b) => (typeof b === "number" && b > 0 ? (b / 2 ** 30).toFixed(2) : "-");

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const cases = benchCases(args.smoke, args.gpu).filter((c) => !args.only || args.only.includes(c.name));

  if (args.writeShapes) {
    const shapes = cases.map((c) => shapeOf(c, compiled(c.text.replace(EMBEDDINGS, "t.safetensors")).plan));
    writeFileSync(args.writeShapes, `${JSON.stringify({ smoke: args.smoke, cases: shapes }, null, 1)}\n`);
    console.log(`wrote ${args.writeShapes}: ${shapes.map((s) => `${s.name} (${s.variant}, batch ${s.batch}, ${(s.flopsPerStep / 1e12).toFixed(2)} TFLOP/step)`).join(", ")}`);
    return;
  }

  const native = loadNative();
  const info = native.info();
  console.log(`addon ${info.version}: cuda ${info.backends.cuda.built ? "built" : "not built"} (${info.backends.cuda.reason}); backend ${args.backend}`);
  const side = args.backend === "cuda" ? { backend: "cuda", device: args.device } : { backend: "cpu" };
  const temp = mkdtempSync(join(tmpdir(), "opendit-bench-"));
  const results = [];
  try {
    for (const c of cases) {
      const row = { name: c.name, backend: args.backend };
      results.push(row);
      try {
        const embeddings = join(temp, `${c.name}-text.safetensors`);
        const { plan, spec } = compiled(c.text.replace(EMBEDDINGS, embeddings));
        if (plan.inputs.some((i) => i.source === "text")) await writeEmbeddings(plan, embeddings);
        const inputs = await runInputs(spec, plan, temp);
        const g = plan.geometry;
        Object.assign(row, {
          variant: plan.model.variant,
          dtype: plan.model.dtype,
          shape: g.frames > 1 ? `${g.frames}x${g.height}x${g.width}` : `${g.height}x${g.width}`,
          batch: g.batch,
          tokensPerSample: g.tokens.frames * g.tokens.rows * g.tokens.cols,
          flopsPerStep: plan.cost.flopsPerStep,
          estimatedMsPerStep: 1000 * (plan.cost.perPattern[0]?.seconds ?? NaN),
          estimatedPeakBytes: plan.cost.peakBytesPerRank,
          estimatedFor: plan.cost.gpu,
        });
        const started = performance.now();
        const result = await native.run({ plan: canonicalJson(plan), weights: { kind: "random", seed: plan.model.weightsSeed }, inputs, steps: 1 + args.steps, ...side });
        const wall = (performance.now() - started) / 1000;
        const per = result.timings.perStep.map((s) => s * 1000);
        const timed = per.length > 1 ? per.slice(1) : per;
        const ms = median(timed);
        const t = result.timings;
        Object.assign(row, {
          steps: per.length,
          msPerStep: ms,
          msPerStepMin: Math.min(...timed),
          firstStepMs: per[0],
          perStepMs: per,
          tflops: plan.cost.flopsPerStep / (ms / 1000) / 1e12,
          deviceBytes: result.deviceBytes ?? null,
          arenaBytes: result.arenaBytes,
          weightBytes: result.weightBytes,
          setupSeconds: t.load + t.bind + t.inputs + t.setup,
          wallSeconds: wall,
        });
        const final = result.outputs[0]?.data;
        if (final) {
          let bad = 0;
          for (const v of final) if (!Number.isFinite(v)) bad++;
          row.nonFiniteOutputs = bad;
        }
        console.log(`${c.name}: ${ms.toFixed(2)} ms/step, ${tflopsText(row.tflops)} TFLOP/s, setup ${row.setupSeconds.toFixed(1)} s, wall ${wall.toFixed(1)} s`);
      } catch (e) {
        row.error = messageOf(e);
        console.log(`${c.name}: FAILED: ${row.error}`);
      }
    }
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }

  if (args.json) {
    writeFileSync(args.json, `${JSON.stringify({ benchmark: "opendit-cuda-step", backend: args.backend, device: args.device, smoke: args.smoke, addon: info, node: process.version, cases: results }, null, 2)}\n`);
  }
  const lines = [
    "",
    `opendit ${args.backend} step time${args.smoke ? " (smoke: tiny variants)" : ""}: median of ${args.steps} steps after a warm-up step; bf16, random weights, CFG batch`,
    `${"case".padEnd(20)} ${"variant".padEnd(11)} ${"shape".padEnd(11)} ${"batch".padStart(5)} ${"ms/step".padStart(9)} ${"min".padStart(9)} ${"est ms".padStart(8)} ${"TFLOP/s".padStart(8)} ${"dev GiB".padStart(8)} ${"setup s".padStart(8)}`,
  ];
  for (const r of results) {
    if (r.error) {
      lines.push(`${r.name.padEnd(20)} FAILED: ${r.error.slice(0, 140)}`);
      continue;
    }
    lines.push(
      `${r.name.padEnd(20)} ${r.variant.padEnd(11)} ${r.shape.padEnd(11)} ${String(r.batch).padStart(5)} ${r.msPerStep.toFixed(2).padStart(9)} ${r.msPerStepMin.toFixed(2).padStart(9)} ${r.estimatedMsPerStep.toFixed(1).padStart(8)} ${tflopsText(r.tflops).padStart(8)} ${gib(r.deviceBytes).padStart(8)} ${r.setupSeconds.toFixed(1).padStart(8)}${r.nonFiniteOutputs ? `  (${r.nonFiniteOutputs} non-finite outputs)` : ""}`,
    );
  }
  console.log(lines.join("\n"));
  process.exitCode = results.some((r) => r.error) ? 1 : 0;
}

main().catch((error) => {
  console.error(`bench-cuda failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exitCode = 2;
});
