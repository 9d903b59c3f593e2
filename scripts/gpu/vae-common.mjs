/**
 * What scripts/gpu/check-vae.mjs and bench-vae.mjs share (plain Node ESM over dist/):
 *
 * - `vaePipeline`: the pipeline text of a decode run: a tiny class-conditional DiT (dit-tiny for one frame,
 *   latte-tiny for video) with random weights whose final latent is [1, 4, frames, h, w], then the SD-VAE decode
 *   of `vae: { kind: sd-vae-ft-ema, checkpoint: random }` (the full-size decoder, models.md §10.1) with the given
 *   dtype, frames per pass and, on several ranks, a DiT layout whose ranks all hold the final latent (cfg 2; cfg 2 x
 *   ring 2), so the compiler splits the decode over them by rows (`parallel: patch`). Runs take zero DiT steps:
 *   the decode reads the initial noise as the final latent, which isolates it.
 * - `goldenDecodePlan`: the same run with the goldens' tiny decoder (test/fixtures/goldens/vae/vae.json: widths
 *   4/8/16, 2 groups) in place of the full-size one, lowered by the compiler's own decode lowering
 *   (compiler/lower/decode/program.ts over a decoder layout of those widths, plan/memory.ts for its arena).
 * - `runRanks`: every rank of a request in its own process (scripts/gpu/vae-rank-worker.mjs), over the CPU
 *   transport when there are several (the rendezvous done here), each on GPU `rank`; their outputs (or output
 *   summaries), timings, device bytes and progress events.
 * - `sampleGpuMemory`: `nvidia-smi -lms` polling of every GPU's used memory, for the peak of each during a run.
 * - `decodeCaptures` / `captureErrors`: captures of the decode program's op outputs and their errors per op kind.
 */
import { spawn, fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
export const GOLDEN_VAE_DIR = join(ROOT, "test/fixtures/goldens/vae");
const WORKER = join(dirname(fileURLToPath(import.meta.url)), "vae-rank-worker.mjs");

const dist = (path) => import(new URL(`../../dist/${path}`, import.meta.url).href);
const { compile } = await dist("compiler/compile.js");
const { canonicalJson, sha256 } = await dist("compiler/plan/serialize.js");
const { runInputs } = await dist("runtime/run/inputs.js");
const { addonPath } = await dist("runtime/native/addon.js");

/** The DiT layouts whose ranks all hold the final latent (every axis but dp), by world size. */
export const LAYOUTS = { 2: "cfg 2", 4: "cfg 2 x ring 2" };
/** The class label of the tiny DiT (zero steps never read the model's output). */
const LABEL = 3;

/** The pipeline text of a decode run (see the header). dtype: fp32 | bf16 | fp16 (the model's and the decode's). */
export function vaePipeline({ frames, height, width, dtype = "bf16", framesPerPass = 1, world = 1, gpu = "h100", seed = 0 }) {
  const family = frames === 1 ? "dit" : "latte";
  const size = frames === 1 ? `image: { height: ${height}, width: ${width} }` : `video: { frames: ${frames}, height: ${height}, width: ${width} }`;
  const layout = world > 1 ? `parallel: { world: ${world}, layout: "${LAYOUTS[world]}" }\n` : "";
  return `version: 1
name: vae-${family}-${frames}x${height}x${width}-${dtype}${world > 1 ? `-w${world}` : ""}
model: { family: ${family}, variant: ${family}-tiny, checkpoint: random, dtype: ${dtype} }
conditioning: { labels: [${LABEL}] }
${size}
seed: ${seed}
scheduler: { kind: ddim, steps: 2, guidance: 4 }
vae: { kind: sd-vae-ft-ema, checkpoint: random, weights_seed: 1, frames_per_pass: ${framesPerPass} }
output: { dir: out, formats: [${frames === 1 ? "png" : "mp4"}] }
runtime: { gpu: ${gpu} }
${layout}`;
}

/** Compiles pipeline text for `run`; throws with the diagnostics when it does not compile or has no decode. */
export function compilePipeline(text) {
  const r = compile(text, { mode: "run", fileExists: () => true });
  const errors = r.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !r.plan || !r.spec) throw new Error(`the pipeline did not compile: ${errors.map((d) => `${d.code} ${d.message}`).join("; ")}`);
  if (!r.plan.decode) throw new Error("the compiled plan has no decode section (plan.decode)");
  return { plan: r.plan, spec: r.spec };
}

/** The native inputs of a compiled run (the pipeline's labels and noise seed). */
export function inputsOf(spec, plan) {
  return runInputs(spec, plan, ROOT);
}

/** The plan's JSON text with `decode` replaced (the hash recomputed over the rest). */
export function withDecode(plan, decode) {
  const { hash: _old, ...rest } = { ...plan, decode };
  return canonicalJson({ ...rest, hash: sha256(canonicalJson(rest)) });
}

// ---- the goldens' tiny decoder ----

export const GOLDEN_SIDECAR = JSON.parse(readFileSync(join(GOLDEN_VAE_DIR, "vae.json"), "utf8"));
export const GOLDEN_WEIGHTS = join(GOLDEN_VAE_DIR, GOLDEN_SIDECAR.weights_file);

/** A decoder of the compiler's VaeDecoderInfo shape with the sidecar's widths (compiler/models/vae/sd-vae.ts). */
function goldenDecoderInfo(cfg, table) {
  const reversed = [...cfg.block_out_channels].reverse();
  const mid = reversed[0];
  const resnet = (prefix, inChannels, outChannels) => ({ prefix, ldm: prefix, inChannels, outChannels });
  const upBlocks = [];
  let channels = mid;
  reversed.forEach((out, i) => {
    const resnets = [];
    for (let j = 0; j <= cfg.layers_per_block; j++) resnets.push(resnet(`decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? channels : out, out));
    const upsample = i < reversed.length - 1 ? { upsample: { prefix: `decoder.up_blocks.${i}.upsamplers.0.conv`, ldm: "", channels: out } } : {};
    upBlocks.push({ index: i, resnets, ...upsample });
    channels = out;
  });
  const layout = {
    midChannels: mid,
    mid: [resnet("decoder.mid_block.resnets.0", mid, mid), resnet("decoder.mid_block.resnets.1", mid, mid)],
    upBlocks,
    outChannels: cfg.block_out_channels[0],
  };
  return {
    kind: "sd-vae-ft-ema",
    latentChannels: cfg.latent_channels,
    outChannels: 3,
    scale: cfg.scale,
    factor: 8,
    groups: cfg.groups,
    eps: cfg.eps,
    layout: () => layout,
    weights: () => table,
  };
}

/**
 * `plan` (compiled by vaePipeline for the golden case's latent) with its decode program, arena and weights those of
 * the goldens' tiny decoder, lowered by the compiler for the plan's own split. Run it with
 * `decodeWeights: { kind: "file", path: GOLDEN_WEIGHTS, ignore: [] }`. Returns the plan's JSON text.
 */
export async function goldenDecodePlan(plan) {
  const { ProgramBuilder } = await dist("compiler/lower/program/builder.js");
  const { lowerDecodePass } = await dist("compiler/lower/decode/program.js");
  const { planMemory } = await dist("compiler/plan/memory.js");
  const d = plan.decode;
  const table = GOLDEN_SIDECAR.weights.tensors.map((t) => ({ name: t.name, shape: [...t.shape] }));
  const vae = goldenDecoderInfo(GOLDEN_SIDECAR.decoder, table);
  const shape =
    d.split.kind === "tiled"
      ? { frames: d.framesPerPass, height: d.split.tile.height, width: d.split.tile.width }
      : d.split.kind === "patch"
        ? { frames: d.framesPerPass, height: d.latent.height / d.split.parts, width: d.latent.width, parts: d.split.parts }
        : { frames: d.framesPerPass, height: d.latent.height, width: d.latent.width };
  const builder = new ProgramBuilder(table, d.dtype);
  const { input, output } = lowerDecodePass(builder, vae, shape);
  const built = builder.finish();
  const memory = planMemory(built.buffers, built.step);
  const read = new Set(built.weightsRead);
  const weights = table.filter((w) => read.has(w.name)).map((w) => ({ name: w.name, shape: w.shape, dtype: d.dtype }));
  return withDecode(plan, { ...d, weights, buffers: memory.buffers, arenaBytes: memory.arenaBytes, input, output, program: built.step });
}

/** Tensors of a safetensors file as fp32, by name. */
export async function readTensors(path) {
  const { openSafetensors } = await dist("checkpoint/safetensors.js");
  const reader = await openSafetensors(path);
  try {
    const out = new Map();
    for (const t of reader.header.tensors) out.set(t.name, await reader.readF32(t.name));
    return out;
  } finally {
    await reader.close();
  }
}

// ---- captures of the decode program ----

/**
 * Captures of the outputs of the decode program's ops (a buffer several ops write in parts, the attention's
 * packed kv, only after the last of them), at most `maxValues` values each, per pass. Returns the capture specs
 * and, for each, the op's kind.
 */
export function decodeCaptures(plan, maxValues = Number.POSITIVE_INFINITY) {
  const program = plan.decode.program;
  const sizes = new Map(plan.decode.buffers.map((b) => [b.name, b.shape.reduce((a, x) => a * x, 1)]));
  const specs = [];
  const kinds = [];
  program.forEach((op, k) => {
    if (!op.out || !sizes.has(op.out) || sizes.get(op.out) > maxValues) return;
    if (program.slice(k + 1).some((later) => later.out === op.out)) return;  // written again later: capture the last
    specs.push({ op: op.id, buffer: op.out, program: "decode" });
    kinds.push(op.op);
  });
  return { specs, kinds };
}

/** max|a − b| / max|b|: 0 when equal, Infinity for a length mismatch, a NaN, or a zero reference with a difference. */
export function maxRelativeError(a, b) {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) return Number.POSITIVE_INFINITY;
    if (d > diff) diff = d;
    const m = Math.abs(b[i]);
    if (m > scale) scale = m;
  }
  if (diff === 0) return 0;
  return scale === 0 ? Number.POSITIVE_INFINITY : diff / scale;
}

/** The worst capture error per op kind: { kind: { error, op } }. */
export function captureErrors(got, reference, specs, kinds) {
  const worst = {};
  specs.forEach((spec, i) => {
    const e = maxRelativeError(got[i], reference[i]);
    if (!worst[kinds[i]] || e > worst[kinds[i]].error || Number.isNaN(worst[kinds[i]].error)) worst[kinds[i]] = { error: e, op: spec.op };
  });
  return worst;
}

// ---- runs, one process per rank ----

function nextMessage(child, rank) {
  return new Promise((resolve, reject) => {
    const onMessage = (m) => {
      child.off("exit", onExit);
      resolve(m);
    };
    const onExit = (code, signal) => {
      child.off("message", onMessage);
      reject(new Error(`rank ${rank}'s process exited (${signal ?? `code ${code}`}) before answering`));
    };
    child.once("message", onMessage);
    child.once("exit", onExit);
  });
}

/**
 * Runs `requestOf(rank)` on every rank of a `world`-rank plan, each in its own process (GPU `rank` where the
 * request says so) with `env` over this process's environment. `outputs`: "all" or "stats" (vae-rank-worker.mjs).
 * Resolves with each rank's answer in rank order, or rejects naming the ranks that failed; every process is gone
 * when it settles (killed after `timeoutMs` + 10 s).
 */
export async function runRanks(world, requestOf, { outputs = "all", timeoutMs = 300_000, env = {} } = {}) {
  const children = Array.from({ length: world }, () =>
    fork(WORKER, [], { serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"], env: { ...process.env, ...env } }),
  );
  const timer = setTimeout(() => children.forEach((c) => c.kill("SIGKILL")), timeoutMs + 10_000);
  try {
    const ports = await Promise.all(
      children.map(async (child, rank) => {
        const answer = nextMessage(child, rank);
        child.send({ type: "open", addon: addonPath(), rank, world });
        const m = await answer;
        if (m.type !== "port") throw new Error(`rank ${rank}: ${m.message ?? JSON.stringify(m)}`);
        return m.port;
      }),
    );
    const peers = ports.map((port) => ({ host: "127.0.0.1", port }));
    const answers = await Promise.allSettled(
      children.map(async (child, rank) => {
        const answer = nextMessage(child, rank);
        child.send({ type: "run", request: requestOf(rank), peers, timeoutMs, outputs });
        const m = await answer;
        if (m.type !== "done") throw new Error(m.message ?? JSON.stringify(m));
        return m;
      }),
    );
    const failed = answers.map((a, rank) => (a.status === "rejected" ? `rank ${rank}: ${a.reason instanceof Error ? a.reason.message : String(a.reason)}` : undefined)).filter(Boolean);
    if (failed.length > 0) throw new Error(failed.join("; "));
    return answers.map((a) => a.value);
  } finally {
    clearTimeout(timer);
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}

// ---- device memory ----

/**
 * Polls every GPU's used memory (nvidia-smi -lms, MiB) until `stop()`, which resolves with the peak of each GPU
 * index in bytes, or undefined where nvidia-smi is missing or printed nothing.
 */
export function sampleGpuMemory(intervalMs = 100) {
  const peaks = new Map();
  let child;
  try {
    child = spawn("nvidia-smi", ["--query-gpu=index,memory.used", "--format=csv,noheader,nounits", `-lms`, String(intervalMs)], { stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return { stop: async () => undefined };
  }
  let buffered = "";
  child.on("error", () => {});
  child.stdout.setEncoding("utf8").on("data", (chunk) => {
    buffered += chunk;
    const lines = buffered.split("\n");
    buffered = lines.pop() ?? "";
    for (const line of lines) {
      const [index, used] = line.split(",").map((x) => Number(x.trim()));
      if (Number.isInteger(index) && Number.isFinite(used)) peaks.set(index, Math.max(peaks.get(index) ?? 0, used * 2 ** 20));
    }
  });
  return {
    stop: () =>
      new Promise((resolve) => {
        const done = () => resolve(peaks.size > 0 ? peaks : undefined);
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once("close", done);
        child.kill("SIGTERM");
      }),
  };
}

/** Each GPU's used memory now (bytes by index), or undefined without nvidia-smi. */
export async function gpuMemoryNow() {
  const { execFileSync } = await import("node:child_process");
  try {
    const out = execFileSync("nvidia-smi", ["--query-gpu=index,memory.used", "--format=csv,noheader,nounits"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 20_000 });
    const m = new Map();
    for (const line of out.trim().split("\n")) {
      const [index, used] = line.split(",").map((x) => Number(x.trim()));
      if (Number.isInteger(index) && Number.isFinite(used)) m.set(index, used * 2 ** 20);
    }
    return m.size > 0 ? m : undefined;
  } catch {
    return undefined;
  }
}

/** GPUs on this machine (`nvidia-smi -L`), 0 where nvidia-smi does not answer. */
export async function countGpus() {
  const { execFileSync } = await import("node:child_process");
  try {
    const out = execFileSync("nvidia-smi", ["-L"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 20_000 });
    return out.split("\n").filter((l) => l.startsWith("GPU ")).length;
  } catch {
    return 0;
  }
}

/**
 * Decode passes from a run's progress events: per pass the seconds since the previous decode event (the first
 * pass: undefined, its time holds the decode's weight load and setup), events that were coalesced spread evenly.
 */
export function passTimes(progress) {
  const decode = progress.filter((p) => p.phase === "decode").sort((a, b) => a.step - b.step);
  if (decode.length === 0) return { perPass: [], passes: 0 };
  const passes = decode[decode.length - 1].steps;
  const perPass = Array.from({ length: passes }, () => undefined);
  for (let i = 1; i < decode.length; i++) {
    const a = decode[i - 1];
    const b = decode[i];
    if (b.step <= a.step) continue;
    const each = (b.seconds - a.seconds) / (b.step - a.step);
    for (let s = a.step; s < b.step; s++) perPass[s] = each;
  }
  return { perPass, passes, first: decode[0].seconds, last: decode[decode.length - 1].seconds };
}

export function median(xs) {
  const s = xs.filter((x) => x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return undefined;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export const messageOf = (e) => (e instanceof Error ? e.message : String(e));
export const gib = (b) => (typeof b === "number" && b > 0 ? (b / 2 ** 30).toFixed(2) : "-");
export const fmtErr = (e) => (e === undefined ? "-" : Number.isFinite(e) ? e.toExponential(2) : String(e));
