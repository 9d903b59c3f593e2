#!/usr/bin/env node
/**
 * Multi-GPU scaling of opendit's CUDA backend (scripts/gpu-multi.sh runs it on the 4-GPU machine; plain Node ESM
 * over dist/). Every run goes through the CLI launcher as a user runs it (`node dist/cli/main.js run FILE
 * --backend cuda --world N --layout L --json`, one process per rank, one GPU each; one GPU in-process).
 *
 * The model: STDiT-XL/2 (Open-Sora 1.0) at 80x512x512 (81,920 tokens), bf16, `checkpoint: random`, T5-shaped
 * random text features ([1, 120, 4096] `y` and `negative_y`, all-ones `mask`, written as an embeddings file as
 * bench-cuda.mjs writes them), IDDPM with guidance 7 (the CFG batch of 2).
 *
 * 1. scaling   1 GPU; cfg 2, dsp 2, ulysses 2, ring 2 on 2; dsp 4, ulysses 4, ring 4, usp (ring 2 x ulysses 2) and
 *              cfg 2 x dsp 2 on 4. Each a run of --steps steps (default 5): the first is the warm-up (CUDA graph
 *              capture, NCCL's first collectives), the figure is the median of the others. Per-step times come
 *              from the launcher's `--json` progress events, which it sends when the slowest rank has finished a
 *              step, so they are the slowest rank's (run.json keeps only each rank's mean, warm-up included: kept
 *              in the JSON as `rankMeanMs`). Beside each: the speedup over 1 GPU, the plan's predicted step
 *              (plan.cost.perPattern of step 0's pattern, for --gpu's profile) and predicted bytes each rank sends
 *              per step (`commBytes`), and the cost model's communication seconds (compiler/cost estimatePlan,
 *              `secondsByKind.collective`).
 * 2. pab       Pyramid Attention Broadcast over a whole sampler run, DiT time (each rank's step loop, the slowest
 *              rank's), with and without PAB: Open-Sora 1.0's default windows and MLP broadcast
 *              (pipelines/opensora-dsp-pab.yaml's `acceleration.pab`) on this model, 100 IDDPM steps, dsp 4; and
 *              Open-Sora 1.2's (pipelines/opensora-v12.yaml's, whose MLP steps are keyed to its own schedule) on
 *              STDiT3-XL/2 at that file's 51x720x1280 with its scheduler default (rectified flow, 30 steps), dsp
 *              4 with its 15 token frames padded to 16. The speedup measured and the plan's (cost.totalSeconds).
 * 3. profile   each multi-GPU scaling case once more (those the scaling section measured, else every one the GPUs
 *              fit), and Open-Sora 1.2's model at the PAB section's layout without PAB, with OPENDIT_CUDA_PROFILE=1
 *              (CUDA graphs off, per-op-kind device time printed by each rank at its end, into its log; the
 *              setup program and the first step left out as warm-up), OPENDIT_CUDA_OVERLAP=0 (a chunked span's
 *              all-to-alls would time their waits for the compute) and NCCL_RUNTIME_CONNECT=0 (NCCL connects
 *              its peers at init rather than inside the first step's collectives): per rank, the all_to_all /
 *              all_gather / send / recv rows and the ring self_attention rows (their attention math included,
 *              which the profile cannot separate) per step after the warm-up, and the largest rows of the
 *              slowest rank (the JSON keeps each rank's rows and totals). A collective's time includes waiting
 *              for the slowest peer, so the lowest rank's figure is the closest to the transfer itself; both the
 *              lowest and the highest are shown.
 * Then the cost model against the measurements: cases whose measured step is off the predicted by more than 25%
 * either way are flagged.
 *
 * The whole script keeps within --budget seconds (default 420): before each run it estimates the run's time (the
 * plan's predicted seconds scaled by what the runs so far measured against their predictions, plus the start-up
 * they took) and skips, saying so, what no longer fits. Prints a table last; writes --json FILE (default
 * $OUT/bench-scaling.json when $OUT is set). Exit 1 when a run failed, 2 when the script itself breaks.
 *
 * `--smoke` swaps in stdit-tiny (16x64x64) and stdit3-tiny (51x64x64) and the CPU backend (one thread a rank): a
 * check of this script on a machine without a GPU (no profile tables there: the CPU backend prints none).
 *
 *   node scripts/gpu/bench-scaling.mjs [--smoke] [--backend cuda|cpu] [--gpus N] [--steps N] [--budget SECONDS]
 *                                      [--gpu h100|h200] [--sections scaling,pab,profile] [--only layout,...]
 *                                      [--timeout SECONDS] [--json FILE] [--keep]
 *   node scripts/gpu/bench-scaling.mjs --against EARLIER.json   (no runs: its measurements against the cost model now)
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs as parseCommandLine } from "node:util";
import { commOfProfile, costVerdict, countGpus, describeFailure, finite, fmtMs, parseCudaProfile, ringAttentionKeys, ROOT, runCli, stepTimes, worldOf } from "./multi-common.mjs";

const dist = (path) => import(new URL(`../../dist/${path}`, import.meta.url).href);
const { compile } = await dist("compiler/compile.js");
const { estimatePlan } = await dist("compiler/cost/plan-cost.js");
const { GPU_PROFILES } = await dist("compiler/hardware/gpus.js");
const { fillNormals, tensorKey } = await dist("checkpoint/generator.js");
const { writeSafetensors } = await dist("checkpoint/safetensors-write.js");
const { loadNative } = await dist("runtime/native/addon.js");

/** Measured against predicted: flagged beyond this fraction either way. */
const COST_TOLERANCE = 0.25;
const SECTIONS = ["scaling", "pab", "profile"];
/** Seconds of the budget no run may use: the report, and a run that takes longer than estimated. */
const RESERVE_SECONDS = 10;

function parseArgs(argv) {
  const { values } = parseCommandLine({
    args: argv,
    options: {
      smoke: { type: "boolean", default: false },
      backend: { type: "string" },
      gpus: { type: "string" },
      steps: { type: "string", default: "5" },
      budget: { type: "string", default: "420" },
      gpu: { type: "string", default: "h200" },
      sections: { type: "string", default: SECTIONS.join(",") },
      only: { type: "string" },
      timeout: { type: "string", default: "300" },
      json: { type: "string" },
      keep: { type: "boolean", default: false },
      against: { type: "string" },
    },
  });
  const backend = values.backend ?? (values.smoke ? "cpu" : "cuda");
  if (backend !== "cuda" && backend !== "cpu") throw new Error(`--backend must be cuda or cpu, not ${backend}`);
  if (!GPU_PROFILES[values.gpu]) throw new Error(`--gpu must be one of ${Object.keys(GPU_PROFILES).join(", ")}, not ${values.gpu}`);
  const whole = (name, v, min) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min) throw new Error(`--${name} needs a whole number of at least ${min}, not ${v}`);
    return n;
  };
  const sections = values.sections.split(",").map((s) => s.trim()).filter(Boolean);
  for (const s of sections) if (!SECTIONS.includes(s)) throw new Error(`--sections takes ${SECTIONS.join(", ")}, not ${s}`);
  return {
    smoke: values.smoke,
    backend,
    gpus: values.gpus === undefined ? undefined : whole("gpus", values.gpus, 1),
    steps: whole("steps", values.steps, 2),
    budget: whole("budget", values.budget, 1),
    gpu: values.gpu,
    sections,
    only: values.only?.split(",").map((s) => s.trim()).filter(Boolean),
    timeout: whole("timeout", values.timeout, 1),
    json: values.json ?? (process.env.OUT ? join(process.env.OUT, "bench-scaling.json") : undefined),
    keep: values.keep,
    against: values.against,
  };
}

/** The embeddings file's path in a pipeline's text. */
const EMBEDDINGS = "@EMBEDDINGS@";

/**
 * The two models: Open-Sora 1.0's (the scaling model) and 1.2's, full size or (smoke) tiny stand-ins with the
 * tiny variants' widths and 6 blocks, so that the PAB files' MLP broadcast of blocks 0-4 applies to them.
 */
function models(smoke, gpu) {
  const tiny = "hyper: { hidden: 64, depth: 6, heads: 4, patch: 2, patch_t: 1, caption_channels: 32, text_tokens: 8 }";
  const tail = (extra) => `seed: 42
vae: { kind: none }
output: { dir: out, formats: [latents] }
runtime: { gpu: ${gpu} }
${extra}`;
  return {
    os10: {
      title: smoke ? "STDiT, tiny stand-in, 16x64x64" : "STDiT-XL/2 80x512x512",
      label: smoke ? "Open-Sora 1.0 (tiny) 16x64x64" : "Open-Sora 1.0 80x512x512",
      text: (steps, extra = "") => `version: 1
name: bench-scaling-os10
model: { family: stdit, ${smoke ? tiny : "variant: STDiT-XL/2"}, checkpoint: random, weights_seed: 1, dtype: bf16 }
conditioning: { embeddings: ${EMBEDDINGS} }
video: { frames: ${smoke ? 16 : 80}, height: ${smoke ? 64 : 512}, width: ${smoke ? 64 : 512}, fps: 8 }
scheduler: { kind: iddpm, steps: ${steps}, guidance: 7.0 }
${tail(extra)}`,
      pabFile: "pipelines/opensora-dsp-pab.yaml",
      pabSteps: 100,
    },
    os12: {
      title: smoke ? "STDiT3, tiny stand-in, 51x64x64" : "STDiT3-XL/2 51x720x1280",
      label: smoke ? "Open-Sora 1.2 (tiny) 51x64x64" : "Open-Sora 1.2 51x720x1280",
      text: (steps, extra = "") => `version: 1
name: bench-scaling-os12
model: { family: stdit3, ${smoke ? tiny : "variant: STDiT3-XL/2"}, checkpoint: random, weights_seed: 1, dtype: bf16 }
conditioning: { embeddings: ${EMBEDDINGS} }
video: { frames: 51, height: ${smoke ? 64 : 720}, width: ${smoke ? 64 : 1280}, fps: 24 }
scheduler: { kind: rflow, steps: ${steps}, guidance: 7.0 }
${tail(extra)}`,
      pabFile: "pipelines/opensora-v12.yaml",
      pabSteps: 30,
    },
  };
}

/** The scaling cases: a layout (none: one GPU) and the name it is shown under. */
const SCALING = [
  { layout: undefined, name: "1 gpu" },
  { layout: "cfg 2" },
  { layout: "dsp 2" },
  { layout: "ulysses 2" },
  { layout: "ring 2" },
  { layout: "dsp 4" },
  { layout: "ulysses 4" },
  { layout: "ring 4" },
  { layout: "ring 2 x ulysses 2", name: "usp (ring 2 x ulysses 2)" },
  { layout: "cfg 2 x dsp 2" },
];

function compiled(text, world, layout) {
  const r = compile(text, { mode: "run", fileExists: () => true, ...(layout ? { world, layout } : {}) });
  const errors = r.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !r.plan) throw new Error(`the pipeline did not compile: ${errors.map((d) => `${d.code} ${d.message}`).join("; ")}`);
  return r;
}

/** A pipeline file's `acceleration.pab`, as its Spec holds it (the file's own checkpoint and sizes do not matter). */
function pabOf(file) {
  const path = join(ROOT, file);
  const r = compile({ path, text: readFileSync(path, "utf8") }, { mode: "validate", fileExists: () => true });
  const pab = r.spec?.acceleration?.pab;
  if (!pab) throw new Error(`${file} has no acceleration.pab`);
  return pab;
}

function normals(seed, name, count) {
  const out = new Float32Array(count);
  fillNormals(tensorKey(seed, name), out, (z) => z);
  return out;
}

/** T5-shaped text features as bench-cuda.mjs writes them: `y`, `negative_y` [1, L, C] normals, `mask` [1, L] ones. */
async function writeEmbeddings(plan, path) {
  const { textTokens: L, captionChannels: C } = plan.model.hyper;
  const values = new Map([
    ["y", normals(1, "bench/y", L * C)],
    ["negative_y", normals(1, "bench/negative_y", L * C)],
    ["mask", Int32Array.from({ length: L }, () => 1)],
  ]);
  const tensors = [...values.entries()].map(([name, v]) => ({ name, dtype: v instanceof Int32Array ? "I32" : "F32", shape: name === "mask" ? [1, L] : [1, L, C] }));
  await writeSafetensors(path, tensors, (t) => {
    const v = values.get(t.name);
    return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  });
}

/** The plan's figures for its first step's pattern (every op computing) and the whole run. */
function predicted(plan, profile) {
  const first = plan.steps[0]?.pattern ?? 0;
  const cost = plan.cost.perPattern.find((p) => p.id === first);
  const est = estimatePlan(plan, profile).patterns.find((p) => p.id === first);
  return {
    stepSeconds: cost?.seconds,
    commBytesPerStep: cost?.commBytes,
    commSeconds: est?.secondsByKind.collective,
    totalSeconds: plan.cost.totalSeconds,
    gpu: plan.cost.gpu,
  };
}

const gb = (b) => (b === undefined ? "-" : (b / 1e9).toFixed(2));
/** Seconds with three significant digits (a tiny smoke model's estimates are milliseconds). */
const secs = (x) => (x >= 100 ? x.toFixed(0) : x.toPrecision(3));
const ratioText = (r) => (r === undefined ? "-" : `${r.toFixed(2)}x`);

/**
 * `--against FILE`: no runs; the measurements of an earlier bench-scaling JSON against the cost model as it is now
 * (each case compiled again for the file's GPU profile), beside the estimate recorded with them. For checking a
 * correction of the cost model on a machine without a GPU.
 */
function costAgainst(file, gpu) {
  const old = JSON.parse(readFileSync(file, "utf8"));
  const M = models(old.smoke === true, old.estimatesFor ?? gpu);
  const text = (key, steps, extra) => M[key].text(steps, extra).replace(EMBEDDINGS, "text.safetensors");
  const rows = [];
  for (const r of old.scaling ?? []) {
    if (!(r.msPerStep > 0)) continue;
    const plan = compiled(text("os10", old.steps ?? 5), worldOf(r.layout ?? undefined), r.layout ?? undefined).plan;
    const now = predicted(plan, GPU_PROFILES[old.estimatesFor ?? gpu]).stepSeconds;
    rows.push({ what: `scaling ${r.name}`, measured: r.msPerStep / 1000, recorded: r.predicted?.stepSeconds, now });
  }
  for (const p of old.pab ?? []) {
    for (const variant of ["off", "on"]) {
      const side = p[variant];
      if (!(side?.ditSeconds > 0)) continue;
      const layout = p.layout === "1 gpu" ? undefined : p.layout;
      const extra = [variant === "on" ? `acceleration: { pab: ${JSON.stringify(p.pab)} }` : "", p.model === "os12" && layout ? "parallel: { pad: true }" : ""].filter(Boolean).join("\n");
      const plan = compiled(text(p.model, p.steps, extra), worldOf(layout), layout).plan;
      rows.push({ what: `pab ${p.model} ${variant === "on" ? "with" : "without"} PAB, ${p.layout}, ${p.steps} steps (whole run)`, measured: side.ditSeconds, recorded: side.predictedSeconds, now: plan.cost.totalSeconds });
    }
  }
  const lines = [`cost model now against ${file} (${old.gpus} GPUs, estimates for ${old.estimatesFor ?? gpu}): seconds`, `${"case".padEnd(52)} ${"measured".padStart(9)} ${"est then".padStart(9)} ${"est now".padStart(9)} ${"meas/then".padStart(9)} ${"meas/now".padStart(9)}`];
  let off = 0;
  for (const r of rows) {
    const v = costVerdict(r.measured, r.now, COST_TOLERANCE);
    if (v.off) off++;
    const then = r.recorded > 0 ? (r.measured / r.recorded).toFixed(2) : "-";
    lines.push(`${r.what.padEnd(52)} ${r.measured.toPrecision(4).padStart(9)} ${(r.recorded ?? NaN).toPrecision(4).padStart(9)} ${r.now.toPrecision(4).padStart(9)} ${then.padStart(9)} ${v.ratio.toFixed(2).padStart(9)}${v.off ? "  off by more than 25%" : ""}`);
  }
  lines.push(`${rows.length - off} of ${rows.length} within ${COST_TOLERANCE * 100}% of the estimate now`);
  console.log(lines.join("\n"));
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.against) {
    costAgainst(args.against, args.gpu);
    return;
  }
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  const left = () => args.budget - elapsed();
  const info = loadNative().info();
  console.log(`addon ${info.version}: backends ${JSON.stringify(info.backends)}`);
  const detected = args.backend === "cuda" ? await countGpus() : undefined;
  const gpus = args.gpus ?? detected ?? 4;
  const profile = GPU_PROFILES[args.gpu];
  const M = models(args.smoke, args.gpu);
  console.log(`bench-scaling: ${args.backend}${args.smoke ? " (smoke)" : ""}, ${gpus} ${args.backend === "cuda" ? "GPUs" : "ranks"}, ${args.steps} steps a scaling run, estimates for ${args.gpu}, budget ${args.budget} s`);

  const work = mkdtempSync(join(tmpdir(), "opendit-bench-scaling-"));
  const skipped = [];
  const failures = [];
  const scaling = [];
  const pab = [];
  /** Profiles of runs outside the scaling table (Open-Sora 1.2's model). */
  const profiled = [];
  // What the runs so far took beyond their steps, and their measured step over the predicted one.
  const overheads = [];
  const ratios = [];
  const overheadGuess = () => (overheads.length > 0 ? Math.max(...overheads) : args.backend === "cuda" ? 30 : 3);
  const ratioGuess = () => {
    if (ratios.length === 0) return args.backend === "cuda" ? 1.5 : 50;
    const s = [...ratios].sort((a, b) => a - b);
    return s[s.length >> 1];
  };
  let runs = 0;

  /**
   * One CLI run of `text` on `layout`, if the budget still has room for it (`predictedSeconds` of steps, scaled by
   * what earlier runs measured, times `slowdown`); else undefined and a skip line. Returns the CLI result.
   */
  const runOnce = async (id, text, layout, predictedSeconds, { env = {}, slowdown = 1, what }) => {
    const world = worldOf(layout);
    if (world > gpus) {
      skipped.push(`${what}: needs ${world} GPUs, there are ${gpus}`);
      return undefined;
    }
    const estimate = overheadGuess() + predictedSeconds * ratioGuess() * slowdown;
    if (estimate > left() - RESERVE_SECONDS) {
      const why = `needs about ${estimate.toFixed(0)} s, ${Math.max(0, left()).toFixed(0)} s of the budget left (${RESERVE_SECONDS} s of it kept for the report)`;
      skipped.push(`${what}: ${why}`);
      console.log(`---- ${what}: skipped (${why})`);
      return undefined;
    }
    const dir = join(work, `${String(runs++).padStart(2, "0")}-${id}`);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "pipeline.yaml");
    writeFileSync(file, text);
    const limit = Math.max(10, Math.min(args.timeout, Math.floor(left() - 5)));
    const cliEnv = { ...(args.backend === "cpu" ? { OPENDIT_CPU_THREADS: "1" } : {}), ...env };
    const r = await runCli(file, join(dir, "out"), ["--backend", args.backend, "--collective-timeout", "120", ...(layout ? ["--world", String(world), "--layout", layout] : [])], { env: cliEnv, timeoutMs: limit * 1000 });
    if (r.code !== 0 || r.timedOut) {
      const f = describeFailure(r, limit);
      r.failure = f;
      failures.push(`${what}: ${f.message.split("\n")[0]}`);
      console.log(`---- ${what}: FAILED after ${r.seconds.toFixed(1)} s: ${f.message}`);
      if (f.logTail) console.log(f.logTail.replace(/^/gm, "     "));
      return r;
    }
    const st = stepTimes(r.events);
    const stepsSum = st.perStep.reduce((s, x) => s + (x ?? 0), 0);
    overheads.push(Math.max(0, r.seconds - stepsSum));
    return r;
  };

  try {
    // The embeddings files, one per model (their shapes are the model's, not the layout's).
    const embeddings = {};
    for (const [key, m] of Object.entries(M)) {
      const path = join(work, `${key}-text.safetensors`);
      await writeEmbeddings(compiled(m.text(2).replace(EMBEDDINGS, "t.safetensors")).plan, path);
      embeddings[key] = path;
    }
    const textOf = (key, steps, extra) => M[key].text(steps, extra).replace(EMBEDDINGS, embeddings[key]);
    const wantedCase = (c) => !args.only || args.only.some((o) => (c.name ?? c.layout ?? "1 gpu").includes(o));

    // ---- 1. scaling ----
    if (args.sections.includes("scaling")) {
      for (const c of SCALING.filter(wantedCase)) {
        const name = c.name ?? c.layout;
        const world = worldOf(c.layout);
        const row = { name, layout: c.layout ?? null, gpus: world };
        scaling.push(row);
        let plan;
        try {
          const text = textOf("os10", args.steps);
          plan = compiled(text, world, c.layout).plan;
          row.predicted = predicted(plan, profile);
          const r = await runOnce(`scaling-${name.replace(/[^a-z0-9]+/gi, "")}`, text, c.layout, row.predicted.totalSeconds, { what: `scaling ${name}` });
          if (!r) {
            row.skipped = true;
            continue;
          }
          if (r.failure) {
            row.error = r.failure.message;
            row.logTail = r.failure.logTail;
            continue;
          }
          const st = stepTimes(r.events);
          const record = r.done?.record;
          row.msPerStep = st.median === undefined ? record?.msPerStep?.median : st.median * 1000;
          row.warmupMs = st.warmup === undefined ? undefined : st.warmup * 1000;
          row.perStepMs = st.perStep.map((s) => (s === undefined ? null : s * 1000));
          row.rank0MedianMs = record?.msPerStep?.median;
          row.rankMeanMs = record?.parallel?.ranks?.map((k) => k.msPerStep) ?? (record ? [record.msPerStep.mean] : undefined);
          row.wallSeconds = r.seconds;
          row.deviceBytes = record?.deviceBytes;
          const verdict = costVerdict(row.msPerStep / 1000, row.predicted.stepSeconds, COST_TOLERANCE);
          row.measuredOverPredicted = verdict.ratio;
          row.costOff = verdict.off;
          if (verdict.ratio !== undefined) ratios.push(verdict.ratio);
          row.ringKeys = [...ringAttentionKeys(plan)];
          console.log(`scaling ${name}: ${row.msPerStep?.toFixed(2)} ms/step (warm-up ${row.warmupMs?.toFixed(1)} ms), predicted ${fmtMs(row.predicted.stepSeconds, 2)} ms, wall ${r.seconds.toFixed(1)} s`);
        } catch (e) {
          row.error = e instanceof Error ? e.message : String(e);
          failures.push(`scaling ${name}: ${row.error}`);
        }
      }
      const base = scaling.find((r) => r.gpus === 1 && r.msPerStep !== undefined);
      for (const r of scaling) {
        if (base && r.msPerStep !== undefined) {
          r.speedup = base.msPerStep / r.msPerStep;
          r.efficiency = r.speedup / r.gpus;
        }
      }
    }

    // ---- 2. PAB over a whole sampler run ----
    if (args.sections.includes("pab")) {
      // dsp 4 on 4 GPUs (fewer: dsp 2, or one GPU).
      const layout = gpus >= 4 ? "dsp 4" : gpus >= 2 ? "dsp 2" : undefined;
      for (const key of ["os10", "os12"]) {
        const m = M[key];
        const world = worldOf(layout);
        const pair = { model: key, title: m.title, label: m.label, layout: layout ?? "1 gpu", steps: m.pabSteps, pabFrom: m.pabFile };
        pab.push(pair);
        try {
          const pabSpec = pabOf(m.pabFile);
          pair.pab = pabSpec;
          // Both plans first, so that a pair that cannot compile runs nothing.
          const variants = ["off", "on"].map((variant) => {
            const extra = [variant === "on" ? `acceleration: { pab: ${JSON.stringify(pabSpec)} }` : "", key === "os12" && layout ? "parallel: { pad: true }" : ""].filter(Boolean).join("\n");
            const text = textOf(key, m.pabSteps, extra);
            const c = compiled(text, world, layout);
            const side = { predictedSeconds: c.plan.cost.totalSeconds, patterns: c.plan.patterns.length };
            if (variant === "on" && c.pab) {
              side.computed = Object.fromEntries(c.pab.attention.map((a) => [a.kind, a.summary]));
              side.mlp = Object.fromEntries(c.pab.mlp.map((x) => [x.blockKind, `reused ${[...x.letters].filter((l) => l === "B").length}/${x.letters.length} steps, blocks ${x.blocks.join(",")}`]));
            }
            pair[variant] = side;
            return { variant, text, side };
          });
          for (const { variant, text, side } of variants) {
            const r = await runOnce(`pab-${key}-${variant}`, text, layout, side.predictedSeconds, { what: `pab ${key} ${variant === "on" ? "with" : "without"} PAB` });
            if (!r) {
              side.skipped = true;
              continue;
            }
            if (r.failure) {
              side.error = r.failure.message;
              side.logTail = r.failure.logTail;
              continue;
            }
            const record = r.done?.record;
            const ranks = record?.parallel?.ranks;
            side.ditSeconds = ranks ? Math.max(...ranks.map((k) => k.stepSeconds)) : record?.seconds?.steps;
            side.wallSeconds = r.seconds;
            // Rank 0's phases (load, bind, inputs, setup, steps, outputs, write, total): where the wall time goes.
            side.rank0Phases = record?.seconds;
            const st = stepTimes(r.events);
            side.msPerStepMedian = st.median === undefined ? undefined : st.median * 1000;
            const verdict = costVerdict(side.ditSeconds, side.predictedSeconds, COST_TOLERANCE);
            side.measuredOverPredicted = verdict.ratio;
            side.costOff = verdict.off;
            const phases = side.rank0Phases ? Object.entries(side.rank0Phases).map(([k, v]) => `${k} ${Number(v).toFixed(2)}`).join(", ") : "-";
            console.log(`pab ${key} ${variant}: DiT ${side.ditSeconds?.toFixed(2)} s over ${m.pabSteps} steps (predicted ${side.predictedSeconds.toFixed(2)} s), wall ${r.seconds.toFixed(1)} s; rank 0 seconds: ${phases}`);
          }
          if (pair.off?.ditSeconds && pair.on?.ditSeconds) pair.speedup = pair.off.ditSeconds / pair.on.ditSeconds;
          if (pair.off && pair.on) pair.predictedSpeedup = pair.off.predictedSeconds / pair.on.predictedSeconds;
        } catch (e) {
          pair.error = e instanceof Error ? e.message : String(e);
          failures.push(`pab ${key}: ${pair.error}`);
        }
      }
    }

    // ---- 3. communication time per step, from the CUDA profile ----
    if (args.sections.includes("profile")) {
      // Open-Sora 1.2's model at the PAB section's layout without PAB (whose steps the cost model missed most), then
      // the multi-GPU scaling cases (those this call measured; without the scaling section, every one that fits).
      const targets = args.sections.includes("scaling")
        ? scaling.filter((r) => r.gpus > 1 && r.msPerStep !== undefined).map((row) => ({ row, model: "os10" }))
        : SCALING.filter((c) => wantedCase(c) && c.layout && worldOf(c.layout) <= gpus).map((c) => {
            const row = { name: c.name ?? c.layout, layout: c.layout, gpus: worldOf(c.layout), profileOnly: true };
            scaling.push(row);
            return { row, model: "os10" };
          });
      const os12Layout = gpus >= 4 ? "dsp 4" : gpus >= 2 ? "dsp 2" : undefined;
      if (os12Layout && (!args.only || args.only.some((o) => "os12".includes(o)))) {
        const row = { name: `os12 ${os12Layout}`, model: "os12", layout: os12Layout, gpus: worldOf(os12Layout), profileOnly: true };
        profiled.push(row);
        // First: the case the cost model missed most.
        targets.unshift({ row, model: "os12", extra: "parallel: { pad: true }" });
      }
      for (const { row, model, extra } of targets) {
        const what = `profile ${row.name}`;
        try {
          const text = textOf(model, args.steps, extra);
          if (!row.predicted) {
            const plan = compiled(text, worldOf(row.layout), row.layout).plan;
            row.predicted = predicted(plan, profile);
            row.ringKeys = [...ringAttentionKeys(plan)];
          }
          const r = await runOnce(`profile-${row.name.replace(/[^a-z0-9]+/gi, "")}`, text, row.layout, row.predicted.totalSeconds, {
            // Overlap off: a chunked span's all-to-alls on the second stream would time their waits for the compute.
            env: { OPENDIT_CUDA_PROFILE: "1", NCCL_RUNTIME_CONNECT: "0", OPENDIT_CUDA_OVERLAP: "0" },
            slowdown: 1.5,
            what,
          });
          if (!r) continue;
          const prof = { ranks: [] };
          row.profile = prof;
          if (r.failure) {
            prof.error = r.failure.message;
            prof.logTail = r.failure.logTail;
            continue;
          }
          const steps = r.done?.record?.steps ?? args.steps;
          prof.steps = steps;
          const st = stepTimes(r.events);
          prof.msPerStep = st.median === undefined ? undefined : st.median * 1000;
          const logs = join(r.outDir, "logs");
          const ringKeys = new Set(row.ringKeys);
          for (const f of readdirSync(logs).filter((x) => /^rank-\d+\.log$/.test(x)).sort((a, b) => Number(a.slice(5, -4)) - Number(b.slice(5, -4)))) {
            const table = parseCudaProfile(readFileSync(join(logs, f), "utf8"));
            if (!table) continue;
            const comm = commOfProfile(table, ringKeys);
            // The table's own step count: the steps after the warm-up step (an older table: every step run).
            const n = table.steps ?? steps;
            prof.ranks.push({
              rank: Number(f.slice(5, -4)),
              steps: n,
              deviceMs: table.totalMs,
              warmupMs: table.warmupMs,
              deviceMsPerStep: table.totalMs / n,
              commMsPerStep: comm.ms / n,
              collectiveMsPerStep: comm.collectiveMs / n,
              ringAttentionMsPerStep: comm.ringMs / n,
              rows: comm.rows,
              top: table.rows.slice(0, 12).map((r) => ({ ...r, msPerStep: r.ms / n })),
            });
          }
          if (prof.ranks.length === 0) {
            prof.note = args.backend === "cuda" ? "no profile table in the rank logs" : "no profile table (the CPU backend prints none)";
          } else {
            const c = prof.ranks.map((k) => k.commMsPerStep);
            prof.commMsPerStepMin = Math.min(...c);
            prof.commMsPerStepMax = Math.max(...c);
            prof.deviceMsPerStepMax = Math.max(...prof.ranks.map((k) => k.deviceMsPerStep));
          }
          console.log(`${what}: ${prof.ranks.length > 0 ? `communication ${prof.commMsPerStepMin.toFixed(2)}-${prof.commMsPerStepMax.toFixed(2)} ms/step over ${prof.ranks.length} ranks (profile step ${prof.msPerStep?.toFixed(1)} ms)` : prof.note}`);
        } catch (e) {
          failures.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
    }

    // ---- the report ----
    const lines = [""];
    const ps = (s, n) => String(s).padStart(n);
    if (scaling.length > 0) {
      lines.push(`scaling: ${M.os10.title}, bf16, random weights, IDDPM guidance 7 (CFG batch 2); ${args.backend}; ms/step = median of ${args.steps - 1} steps after a warm-up step, slowest rank; estimates for ${args.gpu}`);
      lines.push(`${"case".padEnd(26)} ${ps("gpus", 4)} ${ps("ms/step", 9)} ${ps("speedup", 7)} ${ps("eff", 5)} ${ps("est ms", 8)} ${ps("meas/est", 8)} ${ps("GB sent/step", 12)} ${ps("est comm ms", 11)} ${ps("comm ms (min-max)", 17)} ${ps("prof ms", 8)}  note`);
      for (const r of scaling) {
        const comm = r.profile?.commMsPerStepMin !== undefined ? `${r.profile.commMsPerStepMin.toFixed(1)}-${r.profile.commMsPerStepMax.toFixed(1)}` : "-";
        const notes = r.error
          ? [`FAILED: ${r.error.split("\n")[0].slice(0, 80)}`]
          : r.skipped
            ? ["skipped"]
            : [
                r.costOff ? `estimate off by more than ${COST_TOLERANCE * 100}%` : "",
                r.profile?.error ? `profile failed: ${r.profile.error.split("\n")[0].slice(0, 60)}` : "",
                r.profile?.note ?? "",
                r.ringKeys?.length && r.profile?.commMsPerStepMin !== undefined ? "comm includes the ring attention math" : "",
              ];
        const note = notes.filter(Boolean).join("; ");
        lines.push(
          `${r.name.padEnd(26)} ${ps(r.gpus, 4)} ${ps(r.msPerStep === undefined ? "-" : r.msPerStep.toFixed(1), 9)} ${ps(r.speedup === undefined ? "-" : r.speedup.toFixed(2), 7)} ${ps(r.efficiency === undefined ? "-" : `${(r.efficiency * 100).toFixed(0)}%`, 5)} ${ps(fmtMs(r.predicted?.stepSeconds), 8)} ${ps(ratioText(r.measuredOverPredicted), 8)} ${ps(gb(r.predicted?.commBytesPerStep), 12)} ${ps(fmtMs(r.predicted?.commSeconds), 11)} ${ps(comm, 17)} ${ps(r.profile?.msPerStep === undefined ? "-" : r.profile.msPerStep.toFixed(1), 8)}  ${note}`,
        );
      }
      lines.push("(GB sent/step: the plan's bytes each rank sends per step; comm ms: the CUDA profile's collective rows per step, lowest and highest rank, waiting for peers included; prof ms: the step under the profile, graphs off)");
    }
    if (pab.length > 0) {
      lines.push("", "PAB over a whole sampler run: DiT seconds (slowest rank's step loop), without and with PAB");
      lines.push(`${"model".padEnd(30)} ${"layout".padEnd(7)} ${ps("steps", 5)} ${ps("no PAB s", 9)} ${ps("PAB s", 8)} ${ps("speedup", 8)} ${ps("est speedup", 11)} ${ps("est no/PAB s", 13)}  computed`);
      for (const p of pab) {
        const fmtS = (side) => (side?.ditSeconds === undefined ? (side?.skipped ? "skipped" : side?.error ? "FAILED" : "-") : secs(side.ditSeconds));
        const computed = p.on?.computed ? Object.entries(p.on.computed).map(([k, v]) => `${k} ${v.replace("computed ", "")}`).join(", ") : "";
        const est = p.off && p.on ? `${secs(p.off.predictedSeconds)}/${secs(p.on.predictedSeconds)}` : "-";
        lines.push(`${p.label.padEnd(30)} ${p.layout.padEnd(7)} ${ps(p.steps, 5)} ${ps(fmtS(p.off), 9)} ${ps(fmtS(p.on), 8)} ${ps(p.speedup === undefined ? "-" : `${p.speedup.toFixed(2)}x`, 8)} ${ps(p.predictedSpeedup === undefined ? "-" : `${p.predictedSpeedup.toFixed(2)}x`, 11)} ${ps(est, 13)}  ${p.error ? `FAILED: ${p.error.slice(0, 80)}` : computed}`);
      }
      lines.push(`(PAB windows and MLP broadcast from ${pab.map((p) => p.pabFrom).join(" and ")})`);
    }
    // Where each profiled run's device time goes: its slowest rank's largest rows.
    const withTop = [...scaling, ...profiled].filter((r) => r.profile?.ranks?.length > 0);
    if (withTop.length > 0) {
      lines.push("", "profile: the slowest rank's largest op rows, ms per step after the warm-up step (graphs off)");
      for (const r of withTop) {
        const slowest = r.profile.ranks.reduce((a, b) => (b.deviceMsPerStep > a.deviceMsPerStep ? b : a));
        lines.push(`  ${r.name} (rank ${slowest.rank}, ${slowest.deviceMsPerStep.toFixed(1)} ms of device time per step${slowest.warmupMs !== undefined ? `, warm-up ${slowest.warmupMs.toFixed(0)} ms` : ""}):`);
        for (const t of slowest.top.slice(0, 8)) lines.push(`    ${t.msPerStep.toFixed(2).padStart(8)} ms  ${String(Math.round(t.calls / slowest.steps)).padStart(4)} calls  ${t.key}`);
      }
    }
    const judged = [
      ...scaling.filter((r) => r.measuredOverPredicted !== undefined).map((r) => ({ what: `scaling ${r.name}`, ratio: r.measuredOverPredicted, off: r.costOff })),
      ...pab.flatMap((p) => ["off", "on"].filter((v) => p[v]?.measuredOverPredicted !== undefined).map((v) => ({ what: `pab ${p.model} ${v === "on" ? "with" : "without"} PAB (whole run)`, ratio: p[v].measuredOverPredicted, off: p[v].costOff }))),
    ];
    if (judged.length > 0) {
      const off = judged.filter((j) => j.off);
      lines.push("", `cost model: ${judged.length - off.length} of ${judged.length} measurements within ${COST_TOLERANCE * 100}% of the plan's estimate${off.length > 0 ? `; off by more:\n${off.map((j) => `  ${j.what}: measured/estimated ${j.ratio.toFixed(2)}`).join("\n")}` : ""}`);
    }
    if (skipped.length > 0) lines.push("", `skipped (${skipped.length}):`, ...skipped.map((s) => `  ${s}`));
    if (failures.length > 0) lines.push("", `failed (${failures.length}):`, ...failures.map((s) => `  ${s}`));
    lines.push("", `bench-scaling: ${failures.length === 0 ? "done" : "FAILURES"} in ${elapsed().toFixed(0)} s of a ${args.budget} s budget`);

    if (args.json) {
      const clean = (o) => JSON.parse(JSON.stringify(o, (_, v) => (typeof v === "number" ? finite(v) : v)));
      writeFileSync(
        args.json,
        `${JSON.stringify(
          clean({
            benchmark: "opendit-multi-gpu-scaling",
            backend: args.backend,
            smoke: args.smoke,
            gpus,
            estimatesFor: args.gpu,
            steps: args.steps,
            budgetSeconds: args.budget,
            seconds: elapsed(),
            model: M.os10.title,
            addon: info,
            node: process.version,
            costTolerance: COST_TOLERANCE,
            scaling,
            pab,
            profiled,
            skipped,
            failures,
          }),
          null,
          2,
        )}\n`,
      );
    }
    console.log(lines.join("\n"));
    process.exitCode = failures.length === 0 ? 0 : 1;
  } finally {
    if (args.keep) console.log(`runs kept in ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(`bench-scaling failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exitCode = 2;
});
