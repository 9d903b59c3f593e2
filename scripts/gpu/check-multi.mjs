#!/usr/bin/env node
/**
 * Multi-GPU runs against one GPU (scripts/gpu-multi.sh runs it on the 4-GPU machine; plain Node ESM over dist/):
 * every parallel layout of tiny-but-not-trivial pipelines runs through the CLI launcher exactly as a user runs it
 * (`node dist/cli/main.js run FILE --backend cuda --world N --layout L`, one process per rank, one GPU each), and
 * its final latents.safetensors is compared with the same pipeline's one-GPU run (no `parallel`: one rank,
 * in-process, `--backend cuda`):
 *
 *   max relative error = max|a − b| / max|b|, bound 2e-2 for bf16 plans, 1e-4 for fp32 plans
 *   (rms(a − b) / rms(b) is shown beside it, unjudged: a max far above it points at a few outliers, not a drift).
 *
 * A layout moves and masks data and computes the same model, but not the same bits on a GPU: GEMMs of other row
 * counts may take other cuBLASLt algorithms, ring attention merges its key blocks in another order, and a bf16
 * plan rounds every activation, so the bounds are those of bf16 noise (fp32: of summation order). Cases:
 *   2 GPUs  cfg 2 (dit, stdit), dsp 2, ulysses 2, ring 2 (stdit; ulysses and ring on stdit3 and pixart too),
 *           dsp 2 on stdit3's 5 token frames padded to 6 (`parallel.pad`)
 *   4 GPUs  dsp 4, ulysses 4, ring 4, usp (ring 2 x ulysses 2), cfg 2 x dsp 2, cfg 2 x ulysses 2, cfg 2 x ring 2
 *           (stdit), usp on pixart, cfg 2 x ulysses 2 on dit
 *   PipeFusion (reported on its own): pipefusion 2 and cfg 2 x pipefusion 2 on pixart with a warm-up on every step
 *           (no stale K/V), which must equal one GPU within the same bounds
 *   fp32    dit cfg 2, stdit dsp 2, ring 2 and usp, pixart ulysses 2 and pipefusion 2
 *   overlap (reported on its own) stdit dsp 2, ulysses 2, dsp 4 and ulysses 4 in bf16 and dsp 2 in fp32 run a second
 *           time with OPENDIT_CUDA_OVERLAP=0 (native/src/cuda/overlap.h: the all-to-alls chunked by sample against the
 *           ops between them, on by default for spans with a linear between their all-to-alls; the ulysses cases,
 *           whose spans hold the attention alone, run their first time with OPENDIT_CUDA_OVERLAP=all): both runs
 *           against one GPU, and the chunked run against the overlap-off run, each within the dtype's bound; the
 *           chunked run must have chunked a span on rank 0 (CUDA).
 * The models: stdit-tiny 8x128x128 (8 frames x 8x8 tokens, IDDPM, guidance 7), stdit3-tiny 17x128x128 (5 x 8x8,
 * rectified flow, rotary attention), pixart-tiny 256x256 (16x16 tokens, DPM-Solver++), dit-tiny 256x256 (two labels,
 * a CFG batch of 4), all `checkpoint: random`; text features random normals in an embeddings file (the last two
 * tokens masked out), the same for every run.
 *
 * Every CUDA run sets OPENDIT_CUDA_OVERLAP_NOTES=1, and the table's `spans` column is the number of spans rank 0
 * chunked, as its log says (`opendit: CUDA overlap on rank 0: N spans chunked by S samples`; "-" where nothing says
 * so: overlap off, one rank without a collective, the CPU).
 *
 * The runs are independent, so they share the GPUs: each takes `world` free GPUs (`runtime.devices`, which the
 * launcher turns into each rank's CUDA_VISIBLE_DEVICES) and up to --jobs run at once. A failed run prints the
 * launcher's message and the end of the failing rank's log, and the script goes on. Prints a table, writes
 * --json FILE (default $OUT/check-multi.json when $OUT is set), exits 1 when any case fails (2 when the script
 * itself breaks). Cases that need more GPUs than --gpus are skipped and listed; so are those --budget leaves no
 * time for. `--only` keeps the cases whose name (`stdit dsp 2 bf16`, as the table shows it) contains one of its
 * comma-separated texts.
 *
 * `--smoke` runs the same cases with `--backend cpu` (each rank one thread, one run at a time) over the CPU
 * transport: a check of this script on a machine without a GPU (every error is then 0: the CPU backend computes in
 * fp32 whatever the plan's dtype, and its layouts give the one-rank bits).
 *
 *   node scripts/gpu/check-multi.mjs [--smoke] [--backend cuda|cpu] [--gpus N] [--jobs N] [--steps N]
 *                                    [--only text,...] [--budget SECONDS] [--timeout SECONDS] [--json FILE] [--keep]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs as parseCommandLine } from "node:util";
import { readFileSync } from "node:fs";
import { countGpus, describeFailure, finite, fmtErr, logsDirOf, maxRelativeError, messageOf, readLatents, rmsRelativeError, runCli, worldOf } from "./multi-common.mjs";

const dist = (path) => import(new URL(`../../dist/${path}`, import.meta.url).href);
const { compile } = await dist("compiler/compile.js");
const { fillNormals, tensorKey } = await dist("checkpoint/generator.js");
const { writeSafetensors } = await dist("checkpoint/safetensors-write.js");
const { loadNative } = await dist("runtime/native/addon.js");

const BOUND = { fp32: 1e-4, bf16: 2e-2 };

function parseArgs(argv) {
  const { values } = parseCommandLine({
    args: argv,
    options: {
      smoke: { type: "boolean", default: false },
      backend: { type: "string" },
      gpus: { type: "string" },
      jobs: { type: "string" },
      steps: { type: "string", default: "4" },
      only: { type: "string" },
      budget: { type: "string", default: "300" },
      timeout: { type: "string", default: "180" },
      json: { type: "string" },
      keep: { type: "boolean", default: false },
    },
  });
  const backend = values.backend ?? (values.smoke ? "cpu" : "cuda");
  if (backend !== "cuda" && backend !== "cpu") throw new Error(`--backend must be cuda or cpu, not ${backend}`);
  const whole = (name, v, min) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min) throw new Error(`--${name} needs a whole number of at least ${min}, not ${v}`);
    return n;
  };
  return {
    smoke: values.smoke,
    backend,
    gpus: values.gpus === undefined ? undefined : whole("gpus", values.gpus, 1),
    jobs: values.jobs === undefined ? undefined : whole("jobs", values.jobs, 1),
    steps: whole("steps", values.steps, 1),
    only: values.only?.split(",").map((s) => s.trim()).filter(Boolean),
    budget: whole("budget", values.budget, 1),
    timeout: whole("timeout", values.timeout, 1),
    json: values.json ?? (process.env.OUT ? join(process.env.OUT, "check-multi.json") : undefined),
    keep: values.keep,
  };
}

/** The embeddings file's path in a base's text, replaced per run. */
const EMBEDDINGS = "@EMBEDDINGS@";

/** The tiny pipelines (the part under `name:`), per dtype and step count. */
const BASES = {
  stdit: {
    what: "stdit-tiny 8x128x128: 8 frames x 8x8 tokens, IDDPM, guidance 7",
    body: (dtype, steps) => `model: { family: stdit, variant: stdit-tiny, checkpoint: random, weights_seed: 3, dtype: ${dtype} }
conditioning: { embeddings: ${EMBEDDINGS} }
video: { frames: 8, height: 128, width: 128, fps: 8 }
scheduler: { kind: iddpm, steps: ${steps}, guidance: 7 }`,
  },
  stdit3: {
    what: "stdit3-tiny 17x128x128: 5 frames x 8x8 tokens, rectified flow, rotary attention, guidance 7",
    body: (dtype, steps) => `model: { family: stdit3, variant: stdit3-tiny, checkpoint: random, weights_seed: 5, dtype: ${dtype} }
conditioning: { embeddings: ${EMBEDDINGS} }
video: { frames: 17, height: 128, width: 128, fps: 24 }
scheduler: { kind: rflow, steps: ${steps}, guidance: 7 }`,
  },
  pixart: {
    what: "pixart-tiny 256x256: 16x16 tokens, DPM-Solver++, guidance 4.5",
    body: (dtype, steps) => `model: { family: pixart, variant: pixart-tiny, checkpoint: random, weights_seed: 4, dtype: ${dtype} }
conditioning: { embeddings: ${EMBEDDINGS} }
image: { height: 256, width: 256 }
scheduler: { kind: dpm-solver, steps: ${steps}, guidance: 4.5 }`,
  },
  dit: {
    what: "dit-tiny 256x256: 16x16 tokens, labels [3, 7] (a CFG batch of 4), IDDPM, guidance 4",
    body: (dtype, steps) => `model: { family: dit, variant: dit-tiny, checkpoint: random, weights_seed: 6, dtype: ${dtype} }
conditioning: { labels: [3, 7] }
image: { height: 256, width: 256 }
scheduler: { kind: iddpm, steps: ${steps}, guidance: 4 }`,
  },
};

/**
 * The cases: a base, a layout, the dtypes it runs in, the `parallel` settings beside world and layout (a function
 * of the step count), the group it is reported under, and the dtypes that also run with OPENDIT_CUDA_OVERLAP=0.
 */
const CASES = [
  { base: "dit", layout: "cfg 2", dtypes: ["bf16", "fp32"] },
  { base: "stdit", layout: "cfg 2", dtypes: ["bf16"] },
  { base: "stdit", layout: "dsp 2", dtypes: ["bf16", "fp32"], overlapOff: ["bf16", "fp32"] },
  { base: "stdit", layout: "ulysses 2", dtypes: ["bf16"], overlapOff: ["bf16"], overlapEnv: "all" },
  { base: "stdit", layout: "ring 2", dtypes: ["bf16", "fp32"] },
  { base: "stdit3", layout: "ulysses 2", dtypes: ["bf16"] },
  { base: "stdit3", layout: "ring 2", dtypes: ["bf16"] },
  { base: "stdit3", layout: "dsp 2", dtypes: ["bf16"], parallel: () => "pad: true", note: "5 token frames padded to 6" },
  { base: "pixart", layout: "ulysses 2", dtypes: ["bf16", "fp32"] },
  { base: "pixart", layout: "ring 2", dtypes: ["bf16"] },
  { base: "stdit", layout: "dsp 4", dtypes: ["bf16"], overlapOff: ["bf16"] },
  { base: "stdit", layout: "ulysses 4", dtypes: ["bf16"], overlapOff: ["bf16"], overlapEnv: "all" },
  { base: "stdit", layout: "ring 4", dtypes: ["bf16"] },
  { base: "stdit", layout: "ring 2 x ulysses 2", dtypes: ["bf16", "fp32"], note: "usp" },
  { base: "stdit", layout: "cfg 2 x dsp 2", dtypes: ["bf16"] },
  { base: "stdit", layout: "cfg 2 x ulysses 2", dtypes: ["bf16"] },
  { base: "stdit", layout: "cfg 2 x ring 2", dtypes: ["bf16"] },
  { base: "pixart", layout: "ring 2 x ulysses 2", dtypes: ["bf16"], note: "usp" },
  { base: "dit", layout: "cfg 2 x ulysses 2", dtypes: ["bf16"] },
  { base: "pixart", layout: "pipefusion 2", dtypes: ["bf16", "fp32"], parallel: (steps) => `pipefusion: { patches: 2, warmup: ${steps} }`, group: "pipefusion", note: "warm-up every step" },
  { base: "pixart", layout: "cfg 2 x pipefusion 2", dtypes: ["bf16"], parallel: (steps) => `pipefusion: { patches: 2, warmup: ${steps} }`, group: "pipefusion", note: "warm-up every step" },
];

function pipelineText(base, dtype, steps, embeddings, parallel, devices) {
  const lines = [`version: 1`, `name: check-multi-${base}`, BASES[base].body(dtype, steps).replace(EMBEDDINGS, embeddings), `seed: 5`, `vae: { kind: none }`, `output: { dir: out, formats: [latents] }`];
  if (parallel) lines.push(`parallel: { ${parallel} }`);
  if (devices) lines.push(`runtime: { devices: [${devices.join(", ")}] }`);
  return `${lines.join("\n")}\n`;
}

function compiled(text) {
  const r = compile(text, { mode: "run", fileExists: () => true });
  const errors = r.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !r.plan) throw new Error(`the pipeline did not compile: ${errors.map((d) => `${d.code} ${d.message}`).join("; ")}`);
  return r.plan;
}

function normals(seed, name, count) {
  const out = new Float32Array(count);
  fillNormals(tensorKey(seed, name), out, (z) => z);
  return out;
}

/** The base's embeddings file: `y` and `negative_y` [1, L, C] normals, `mask` [1, L] with the last two tokens out. */
async function writeEmbeddings(base, path) {
  const plan = compiled(pipelineText(base, "fp32", 2, "t.safetensors"));
  const { textTokens: L, captionChannels: C } = plan.model.hyper;
  const values = new Map([
    ["y", normals(21, `check-multi/${base}/y`, L * C)],
    ["negative_y", normals(21, `check-multi/${base}/negative_y`, L * C)],
    ["mask", Int32Array.from({ length: L }, (_, i) => (i < Math.max(1, L - 2) ? 1 : 0))],
  ]);
  const tensors = [...values.entries()].map(([name, v]) => ({ name, dtype: v instanceof Int32Array ? "I32" : "F32", shape: name === "mask" ? [1, L] : [1, L, C] }));
  await writeSafetensors(path, tensors, (t) => {
    const v = values.get(t.name);
    return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  });
}

const caseName = (c) => `${c.base} ${c.layout}${c.note ? ` (${c.note})` : ""}`;
const runId = (base, dtype, layout) => `${base}-${dtype}-${layout ? layout.replace(/ x /g, "x").replace(/ /g, "") : "1gpu"}`;
/** The run of a case's overlap-off twin. */
const OVERLAP_OFF = "-overlap0";

/** `got`'s latents against `want`'s: the largest max and rms relative errors over the tensors (Infinity for one missing). */
function latentErrors(got, want) {
  let worst = 0;
  let rms = 0;
  for (const [name, w] of want) {
    const have = got.get(name);
    const e = have ? maxRelativeError(have, w) : Number.POSITIVE_INFINITY;
    const r = have ? rmsRelativeError(have, w) : Number.POSITIVE_INFINITY;
    if (!(e <= worst)) worst = e;
    if (!(r <= rms)) rms = r;
  }
  return { worst, rms };
}

/**
 * The spans rank 0 chunked (native/src/cuda/overlap.cu's OPENDIT_CUDA_OVERLAP_NOTES line), from a finished run's
 * rank-0 log (a launched run) or its own stderr (one rank in-process); undefined where neither says.
 */
function overlapSpans(r) {
  const texts = [r.stderr];
  const dir = logsDirOf(r);
  if (dir) {
    try {
      texts.push(readFileSync(join(dir, "rank-0.log"), "utf8"));
    } catch {
      // no rank-0 log: an in-process run
    }
  }
  for (const text of texts) {
    const m = /opendit: CUDA overlap on rank 0: (\d+) spans? chunked/.exec(text);
    if (m) return Number(m[1]);
  }
  return undefined;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  const info = loadNative().info();
  console.log(`addon ${info.version}: backends ${JSON.stringify(info.backends)}`);
  const detected = args.backend === "cuda" ? await countGpus() : undefined;
  const gpus = args.gpus ?? detected ?? 4;
  const jobs = args.jobs ?? (args.backend === "cuda" ? gpus : 1);
  const side = args.backend === "cuda" ? `${gpus} GPUs${detected === undefined && args.gpus === undefined ? " (nvidia-smi did not answer: assumed)" : ""}` : `${gpus} ranks on the CPU backend (smoke)`;
  console.log(`check-multi: ${side}, up to ${jobs} runs at once, ${args.steps} steps a run, budget ${args.budget} s`);

  const work = mkdtempSync(join(tmpdir(), "opendit-check-multi-"));
  const rows = [];
  const failures = [];
  const skipped = [];
  try {
    // The cases and the one-GPU references they need.
    const wanted = [];
    for (const c of CASES) {
      for (const dtype of c.dtypes) {
        const name = `${caseName(c)} ${dtype}`;
        if (args.only && !args.only.some((o) => name.includes(o))) continue;
        const world = worldOf(c.layout);
        if (world > gpus) {
          skipped.push(`${name}: needs ${world} GPUs, --gpus is ${gpus}`);
          continue;
        }
        wanted.push({ ...c, dtype, world, name, group: c.group ?? "layouts" });
      }
    }
    const bases = [...new Set(wanted.map((c) => c.base))];
    const embeddings = new Map();
    for (const base of bases) {
      if (base === "dit") continue;
      const path = join(work, `${base}-text.safetensors`);
      await writeEmbeddings(base, path);
      embeddings.set(base, path);
    }
    const refKeys = [...new Set(wanted.map((c) => `${c.base}/${c.dtype}`))];
    /** Every run: the references first (many cases wait on them), then the cases, smaller worlds first. */
    const runs = [
      ...refKeys.map((k) => {
        const [base, dtype] = k.split("/");
        return { id: runId(base, dtype), base, dtype, world: 1, layout: undefined, parallel: undefined };
      }),
      ...wanted.map((c) => ({ id: runId(c.base, c.dtype, c.layout) + (c.parallel ? "-x" : ""), base: c.base, dtype: c.dtype, world: c.world, layout: c.layout, parallel: c.parallel?.(args.steps), case: c, ...(c.overlapEnv ? { env: { OPENDIT_CUDA_OVERLAP: c.overlapEnv } } : {}) })),
      // The overlap-off twins, after every case (their comparisons wait for both runs).
      ...wanted
        .filter((c) => c.overlapOff?.includes(c.dtype))
        .map((c) => ({ id: runId(c.base, c.dtype, c.layout) + (c.parallel ? "-x" : "") + OVERLAP_OFF, base: c.base, dtype: c.dtype, world: c.world, layout: c.layout, parallel: c.parallel?.(args.steps), case: c, env: { OPENDIT_CUDA_OVERLAP: "0" } })),
    ];

    const results = new Map();
    const free = Array.from({ length: gpus }, (_, i) => i);
    const queue = [...runs];
    const running = new Set();
    const startRun = (run, devices) => {
      const dir = join(work, run.id);
      mkdirSync(dir, { recursive: true });
      const file = join(dir, "pipeline.yaml");
      writeFileSync(file, pipelineText(run.base, run.dtype, args.steps, embeddings.get(run.base) ?? "t.safetensors", run.parallel, args.backend === "cuda" ? devices : undefined));
      const cliArgs = ["--backend", args.backend, "--collective-timeout", "60", ...(run.layout ? ["--world", String(run.world), "--layout", run.layout] : [])];
      const env = { ...(args.backend === "cpu" ? { OPENDIT_CPU_THREADS: "1" } : { OPENDIT_CUDA_OVERLAP_NOTES: "1" }), ...run.env };
      const limit = Math.max(5, Math.min(args.timeout, Math.floor(args.budget - elapsed())));
      const p = runCli(file, join(dir, "out"), cliArgs, { env, timeoutMs: limit * 1000 }).then(async (r) => {
        const result = { run, devices, seconds: r.seconds, ok: r.code === 0 && !r.timedOut };
        if (result.ok) {
          result.spans = overlapSpans(r);
          try {
            result.latents = await readLatents(r.outDir);
          } catch (e) {
            result.ok = false;
            result.error = `the run succeeded, but its latents.safetensors could not be read: ${messageOf(e)}`;
          }
        } else {
          const f = describeFailure(r, limit);
          result.error = f.message;
          result.logTail = f.logTail;
          console.log(`---- ${run.id} FAILED after ${r.seconds.toFixed(1)} s: ${f.message}`);
          if (f.logTail) console.log(f.logTail.replace(/^/gm, "     "));
        }
        if (result.ok) console.log(`${run.id}: ok in ${r.seconds.toFixed(1)} s${args.backend === "cuda" ? ` on GPU ${devices.join(",")}` : ""}`);
        results.set(run.id, result);
        free.push(...devices);
        free.sort((a, b) => a - b);
        running.delete(p);
      });
      running.add(p);
    };
    while (queue.length > 0 || running.size > 0) {
      for (let i = 0; i < queue.length; ) {
        const run = queue[i];
        if (elapsed() > args.budget - 5) {
          skipped.push(`${run.id}: the budget of ${args.budget} s was spent`);
          queue.splice(i, 1);
          continue;
        }
        if (run.world <= free.length && running.size < jobs) {
          queue.splice(i, 1);
          startRun(run, free.splice(0, run.world));
        } else i++;
      }
      if (running.size > 0) await Promise.race(running);
    }

    // The comparisons.
    for (const c of wanted) {
      const ref = results.get(runId(c.base, c.dtype));
      const got = results.get(runId(c.base, c.dtype, c.layout) + (c.parallel ? "-x" : ""));
      const row = { name: c.name, group: c.group, base: c.base, layout: c.layout, world: c.world, dtype: c.dtype, bound: BOUND[c.dtype], seconds: got?.seconds, spans: got?.spans };
      if (!got) continue; // skipped for the budget (listed)
      rows.push(row);
      if (!got.ok) {
        row.status = "FAIL";
        row.error = got.error;
        row.logTail = got.logTail;
        failures.push(`${c.name}: ${got.error}`);
        continue;
      }
      if (!ref?.ok) {
        row.status = "FAIL";
        row.error = ref ? `its one-GPU reference failed: ${ref.error}` : "its one-GPU reference did not run (budget)";
        failures.push(`${c.name}: ${row.error}`);
        continue;
      }
      const scale = Math.max(0, ...[...ref.latents.values()].map((v) => v.reduce((m, x) => Math.max(m, Math.abs(x)), 0)));
      if (!(scale > 0 && Number.isFinite(scale))) {
        row.status = "FAIL";
        row.error = `its one-GPU reference latent is ${Number.isFinite(scale) ? "all zeros" : "not finite"}: nothing to compare against`;
        failures.push(`${c.name}: ${row.error}`);
        continue;
      }
      const { worst, rms } = latentErrors(got.latents, ref.latents);
      row.maxRelError = worst;
      row.rmsRelError = rms;
      row.status = worst <= row.bound ? "ok" : "FAIL";
      if (row.status !== "ok") failures.push(`${c.name}: max relative error ${fmtErr(worst)} > ${row.bound}`);
    }
    for (const k of refKeys) {
      const [base, dtype] = k.split("/");
      const ref = results.get(runId(base, dtype));
      if (ref && !ref.ok) failures.push(`${base} ${dtype} one-GPU reference: ${ref.error}`);
    }

    // The overlap-off twins: the twin against one GPU, and the default (overlap on) against the twin, each within
    // the dtype's bound; on CUDA the default must have chunked a span and the twin none.
    const overlapRows = [];
    for (const c of wanted) {
      if (!c.overlapOff?.includes(c.dtype)) continue;
      const id = runId(c.base, c.dtype, c.layout) + (c.parallel ? "-x" : "");
      const on = results.get(id);
      const off = results.get(id + OVERLAP_OFF);
      const ref = results.get(runId(c.base, c.dtype));
      if (!on || !off) continue; // skipped for the budget (listed)
      const row = { name: c.name, dtype: c.dtype, world: c.world, bound: BOUND[c.dtype], spans: on.spans, spansOff: off.spans, seconds: off.seconds };
      overlapRows.push(row);
      const fail = (error) => {
        row.status = "FAIL";
        row.error = error;
        failures.push(`${c.name} (overlap): ${error}`);
      };
      if (!off.ok) {
        row.logTail = off.logTail;
        fail(`the OPENDIT_CUDA_OVERLAP=0 run failed: ${off.error}`);
        continue;
      }
      if (!on.ok) {
        row.status = "FAIL";
        row.error = "the default run failed (the layouts table says why)";
        continue;
      }
      if (ref?.ok) {
        row.onVsOne = latentErrors(on.latents, ref.latents).worst;
        row.offVsOne = latentErrors(off.latents, ref.latents).worst;
      }
      const e = latentErrors(on.latents, off.latents);
      row.onVsOff = e.worst;
      row.onVsOffRms = e.rms;
      if (!(row.onVsOff <= row.bound)) fail(`overlap on against off: max relative error ${fmtErr(row.onVsOff)} > ${row.bound}`);
      else if (row.offVsOne !== undefined && !(row.offVsOne <= row.bound)) fail(`overlap off against one GPU: max relative error ${fmtErr(row.offVsOne)} > ${row.bound}`);
      else if (args.backend === "cuda" && !(on.spans > 0)) fail(`the default run chunked no span on rank 0 (${on.spans === undefined ? "its log says nothing of the overlap" : "0 spans"}): nothing was overlapped`);
      else if (off.spans !== undefined) fail(`OPENDIT_CUDA_OVERLAP=0 did not turn it off (${off.spans} spans chunked)`);
      else row.status = "ok";
    }

    const lines = ["", `check-multi: ${args.backend === "cuda" ? "CUDA" : "CPU (smoke)"}, N ranks against 1, final latents, max|a-b|/max|b| (bounds: bf16 ${BOUND.bf16}, fp32 ${BOUND.fp32}); ${args.steps} steps`];
    for (const b of bases) lines.push(`  ${b}: ${BASES[b].what}`);
    for (const group of ["layouts", "pipefusion"]) {
      const of = rows.filter((r) => r.group === group);
      if (of.length === 0) continue;
      lines.push("", group === "pipefusion" ? "PipeFusion (warm-up on every step: no stale K/V)" : "layouts");
      lines.push(`${"case".padEnd(48)} ${"dtype".padEnd(5)} ${"gpus".padStart(4)} ${"spans".padStart(5)} ${"max rel err".padStart(11)} ${"rms rel err".padStart(11)} ${"bound".padStart(7)} ${"wall s".padStart(7)}  status`);
      for (const r of of) {
        lines.push(`${r.name.replace(/ (bf16|fp32)$/, "").padEnd(48)} ${r.dtype.padEnd(5)} ${String(r.world).padStart(4)} ${String(r.spans ?? "-").padStart(5)} ${fmtErr(r.maxRelError).padStart(11)} ${fmtErr(r.rmsRelError).padStart(11)} ${String(r.bound).padStart(7)} ${(r.seconds === undefined ? "-" : r.seconds.toFixed(1)).padStart(7)}  ${r.status}${r.error ? `: ${r.error.split("\n")[0].slice(0, 100)}` : ""}`);
      }
    }
    if (overlapRows.length > 0) {
      lines.push("", "overlap: the default (all-to-alls chunked by sample) against OPENDIT_CUDA_OVERLAP=0, both against one GPU");
      lines.push(`${"case".padEnd(36)} ${"dtype".padEnd(5)} ${"gpus".padStart(4)} ${"spans".padStart(5)} ${"on vs 1".padStart(9)} ${"off vs 1".padStart(9)} ${"on vs off".padStart(9)} ${"(rms)".padStart(9)} ${"bound".padStart(7)}  status`);
      for (const r of overlapRows) {
        lines.push(`${r.name.replace(/ (bf16|fp32)$/, "").padEnd(36)} ${r.dtype.padEnd(5)} ${String(r.world).padStart(4)} ${String(r.spans ?? "-").padStart(5)} ${fmtErr(r.onVsOne).padStart(9)} ${fmtErr(r.offVsOne).padStart(9)} ${fmtErr(r.onVsOff).padStart(9)} ${fmtErr(r.onVsOffRms).padStart(9)} ${String(r.bound).padStart(7)}  ${r.status}${r.error ? `: ${r.error.split("\n")[0].slice(0, 100)}` : ""}`);
      }
    }
    if (skipped.length > 0) lines.push("", `skipped (${skipped.length}):`, ...skipped.map((s) => `  ${s}`));
    const passed = [...rows, ...overlapRows].filter((r) => r.status === "ok").length;
    lines.push("", failures.length === 0 ? `check-multi: PASS (${passed} cases, ${elapsed().toFixed(0)} s)` : `check-multi: FAIL (${failures.length} of ${rows.length + overlapRows.length} cases)\n  ${failures.map((f) => f.split("\n")[0]).join("\n  ")}`);
    console.log(lines.join("\n"));

    if (args.json) {
      const json = {
        script: "check-multi",
        backend: args.backend,
        smoke: args.smoke,
        gpus,
        jobs,
        steps: args.steps,
        bounds: BOUND,
        addon: info,
        seconds: elapsed(),
        cases: rows.map((r) => ({ ...r, maxRelError: finite(r.maxRelError), rmsRelError: finite(r.rmsRelError) })),
        overlap: overlapRows.map((r) => ({ ...r, onVsOne: finite(r.onVsOne), offVsOne: finite(r.offVsOne), onVsOff: finite(r.onVsOff), onVsOffRms: finite(r.onVsOffRms) })),
        references: refKeys.map((k) => {
          const [base, dtype] = k.split("/");
          const r = results.get(runId(base, dtype));
          return { base, dtype, ok: r?.ok ?? false, seconds: r?.seconds, error: r?.error, logTail: r?.logTail };
        }),
        skipped,
        failures,
      };
      writeFileSync(args.json, `${JSON.stringify(json, null, 2)}\n`);
    }
    process.exitCode = failures.length === 0 ? 0 : 1;
  } finally {
    if (args.keep) console.log(`runs kept in ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(`check-multi failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exitCode = 2;
});
