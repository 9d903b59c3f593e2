#!/usr/bin/env node
/**
 * opendit's VAE decode on the CUDA backend (scripts/gpu-check.sh's `vae-bench` step and scripts/gpu-multi.sh's
 * `vae-multi` step run it on the GPU machines; plain Node ESM over dist/): the SD-VAE decoder (sd-vae-ft-ema's
 * architecture, `checkpoint: random`, bf16) decoding 16 and 80 frames of 512x512, the shapes of
 * bench/pytorch_vae_baseline.py, through the compiled plan of a pipeline that decodes (scripts/gpu/vae-common.mjs:
 * a tiny latte DiT whose final latent is [1, 4, frames, 64, 64], run for zero steps so only the decode is
 * measured; the decode reads the initial noise).
 *
 * Cases: one GPU, each --frames x each --fpp (frames per pass: the program's batch); then the decode split by rows
 * over 2 and 4 GPUs (`parallel: patch` under the DiT layouts cfg 2 and cfg 2 x ring 2; --worlds, as many as the
 * machine has) on --multi-frames frames, one per pass. Every rank runs in its own process on GPU `rank`
 * (vae-rank-worker.mjs). Reported per case: ms per frame (the median of the passes after the first, from the
 * decode's progress events, divided by the frames per pass; the first pass also holds the weights' load and the
 * setup), the decode's total seconds (timings.decode: weights, setup and every pass), the passes' seconds at the
 * median pass (the decode without its setup: what the frames cost once the weights are on the device), each
 * rank's device memory (the peak of nvidia-smi's used memory during the run less its value before: CUDA context
 * included) beside the plan's estimate (plan.decode.cost.peakBytesPerRank) and the run's deviceBytes, the plan's
 * estimated ms per frame, and the video's non-finite values (must be 0). With --pytorch FILE (the baseline's
 * JSON), a table of opendit against PyTorch's best mode per case ends the output. --conv-chunk-mb LIST adds, per
 * value, the first frames x fpp case again with OPENDIT_CUDA_CONV_CHUNK_MB set to it (the 3x3 convolutions' im2col
 * chunk budget, cuda/conv2d_kernel.cu; default 64): a sweep for tuning it.
 *
 * Writes the figures as JSON to --json FILE (default $OUT/opendit-vae.json when $OUT is set). `--smoke`: 4 frames
 * of 64x64 and worlds 1 and 2 (with `--backend cpu`, a check of this script on a machine without a GPU).
 *
 *   node scripts/gpu/bench-vae.mjs [--backend cuda|cpu] [--frames 16,80] [--fpp 1,4] [--size 512] [--worlds 2,4]
 *                                  [--multi-frames 16] [--gpus N] [--gpu h100|h200] [--smoke] [--json FILE]
 *                                  [--pytorch FILE] [--conv-chunk-mb 16,32,128]
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs as parseCommandLine } from "node:util";
import { compilePipeline, countGpus, gib, gpuMemoryNow, inputsOf, median, messageOf, passTimes, runRanks, sampleGpuMemory, vaePipeline } from "./vae-common.mjs";

const dist = (path) => import(new URL(`../../dist/${path}`, import.meta.url).href);
const { canonicalJson } = await dist("compiler/plan/serialize.js");
const { loadNative } = await dist("runtime/native/addon.js");

const list = (s) => s.split(",").filter(Boolean).map(Number);

function parseArgs(argv) {
  const { values } = parseCommandLine({
    args: argv,
    options: {
      backend: { type: "string", default: "cuda" },
      frames: { type: "string", default: "16,80" },
      fpp: { type: "string", default: "1,4" },
      size: { type: "string", default: "512" },
      worlds: { type: "string", default: "2,4" },
      "multi-frames": { type: "string", default: "16" },
      gpus: { type: "string" },
      gpu: { type: "string", default: "h100" },
      smoke: { type: "boolean", default: false },
      json: { type: "string" },
      pytorch: { type: "string" },
      "conv-chunk-mb": { type: "string", default: "" },
    },
  });
  const args = {
    backend: values.backend,
    frames: list(values.frames),
    fpp: list(values.fpp),
    size: Number(values.size),
    worlds: list(values.worlds),
    multiFrames: Number(values["multi-frames"]),
    gpus: values.gpus === undefined ? undefined : Number(values.gpus),
    gpu: values.gpu,
    smoke: values.smoke,
    json: values.json ?? (process.env.OUT ? join(process.env.OUT, "opendit-vae.json") : undefined),
    pytorch: values.pytorch,
    convChunks: list(values["conv-chunk-mb"]),
  };
  if (args.smoke) Object.assign(args, { frames: [4], fpp: [1, 2], size: 64, worlds: [2], multiFrames: 4 });
  if (args.backend !== "cuda" && args.backend !== "cpu") throw new Error(`--backend must be cuda or cpu, not ${args.backend}`);
  for (const [flag, xs] of [["--frames", args.frames], ["--fpp", args.fpp], ["--worlds", args.worlds], ["--conv-chunk-mb", args.convChunks]])
    if (xs.some((x) => !Number.isSafeInteger(x) || x < 1)) throw new Error(`${flag} needs whole numbers of at least 1`);
  if (!Number.isSafeInteger(args.size) || args.size % 32 !== 0) throw new Error("--size needs a multiple of 32");
  return args;
}

/** One case: compile, run every rank, and the figures. */
async function runCase(c, args) {
  const row = { name: c.name, backend: args.backend, frames: c.frames, framesPerPass: c.fpp, world: c.world, height: args.size, width: args.size, env: c.env };
  try {
    const { plan, spec } = compilePipeline(vaePipeline({ frames: c.frames, height: args.size, width: args.size, dtype: "bf16", framesPerPass: c.fpp, world: c.world, gpu: args.gpu }));
    const d = plan.decode;
    if (c.world > 1 && d.split.kind !== "patch") throw new Error(`the ${c.world}-rank plan's decode is split ${d.split.kind}, not patch`);
    Object.assign(row, {
      split: d.split.kind === "patch" ? `patch ${d.split.parts}` : d.split.kind,
      passes: d.passes,
      estimatedMsPerFrame: (1000 * d.cost.secondsPerPass) / c.fpp,
      estimatedPeakBytes: d.cost.peakBytesPerRank,
      flopsPerFrame: d.cost.flopsPerPass / c.fpp,
    });
    const request = { plan: canonicalJson(plan), weights: { kind: "random", seed: plan.model.weightsSeed }, inputs: await inputsOf(spec, plan), steps: 0 };
    const before = args.backend === "cuda" ? await gpuMemoryNow() : undefined;
    const sampler = args.backend === "cuda" ? sampleGpuMemory(100) : undefined;
    let answers;
    try {
      answers = await runRanks(c.world, (rank) => ({ ...request, ...(args.backend === "cuda" ? { backend: "cuda", device: rank } : { backend: "cpu" }) }), { outputs: "stats", timeoutMs: 900_000, env: c.env ?? {} });
    } finally {
      row.gpuPeaks = sampler ? await sampler.stop() : undefined;
    }
    const first = answers[0];
    const { perPass, passes } = passTimes(first.progress);
    const pass = median(perPass);
    const video = first.stats.find((s) => s.name === "video");
    if (!video) throw new Error("rank 0 returned no video");
    Object.assign(row, {
      msPerFrame: pass === undefined ? undefined : (1000 * pass) / c.fpp,
      passSeconds: perPass,
      passesSeconds: pass === undefined ? undefined : pass * passes,
      decodeSeconds: first.timings.decode,
      passesRun: passes,
      videoShape: video.shape,
      nonFinite: video.nonFinite,
      videoRms: video.rms,
      deviceBytes: answers.map((a) => a.deviceBytes),
      rankPeakBytes: row.gpuPeaks && before ? answers.map((a) => (row.gpuPeaks.get(a.rank) ?? 0) - (before.get(a.rank) ?? 0)) : undefined,
    });
    delete row.gpuPeaks;
    const fps = row.msPerFrame ? (1000 / row.msPerFrame).toFixed(1) : "-";
    console.log(
      `${c.name}: ${row.msPerFrame?.toFixed(2) ?? "-"} ms/frame (${fps} frames/s), decode ${row.decodeSeconds?.toFixed(2)} s, passes ${row.passesSeconds?.toFixed(2) ?? "-"} s, ` +
        `rank memory ${row.rankPeakBytes ? row.rankPeakBytes.map(gib).join("/") : "-"} GiB (plan ${gib(row.estimatedPeakBytes)})${video.nonFinite ? `, ${video.nonFinite} NON-FINITE values` : ""}`,
    );
    if (video.nonFinite) row.error = `${video.nonFinite} non-finite values in the video`;
  } catch (e) {
    delete row.gpuPeaks;
    row.error = messageOf(e);
    console.log(`${c.name}: FAILED: ${row.error.split("\n")[0]}`);
  }
  return row;
}

function comparison(rows, pytorchFile) {
  let pt;
  try {
    pt = JSON.parse(readFileSync(pytorchFile, "utf8"));
  } catch (e) {
    return [`(no PyTorch comparison: ${messageOf(e)})`];
  }
  const best = new Map();
  for (const r of pt.cases ?? []) {
    if (r.error || !(r.msPerFrame > 0)) continue;
    const old = best.get(r.name);
    if (!old || r.msPerFrame < old.msPerFrame) best.set(r.name, r);
  }
  const lines = ["", `opendit against PyTorch (${pt.env?.gpu ?? "?"}, torch ${pt.env?.torch ?? "?"}; its fastest mode per case)`];
  lines.push(`${"case".padEnd(22)} ${"opendit ms/f".padStart(12)} ${"PT ms/f".padStart(9)} ${"PT mode".padEnd(14)} ${"PT/opendit".padStart(10)} ${"opendit GiB".padStart(11)} ${"PT peak GiB".padStart(11)}`);
  for (const r of rows) {
    if (r.world !== 1) continue;
    const p = best.get(r.name);
    const ratio = p && r.msPerFrame ? `${(p.msPerFrame / r.msPerFrame).toFixed(2)}x` : "-";
    lines.push(
      `${r.name.padEnd(22)} ${(r.msPerFrame?.toFixed(2) ?? "-").padStart(12)} ${(p?.msPerFrame.toFixed(2) ?? "-").padStart(9)} ${(p?.mode ?? "-").padEnd(14)} ${ratio.padStart(10)} ${gib(r.rankPeakBytes?.[0]).padStart(11)} ${gib(p?.peakBytes).padStart(11)}`,
    );
  }
  lines.push("(PT/opendit above 1: opendit is faster; opendit's memory is nvidia-smi's, CUDA context included; PyTorch's is max_memory_allocated)");
  return lines;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const info = loadNative().info();
  console.log(`addon ${info.version}: cuda ${info.backends.cuda.built ? "built" : "not built"} (${info.backends.cuda.reason}); backend ${args.backend}`);
  const gpus = args.backend === "cuda" ? (args.gpus ?? (await countGpus())) : Math.max(...args.worlds, 1);
  const cases = [];
  for (const frames of args.frames) for (const fpp of args.fpp) cases.push({ name: `vae-${frames}x${args.size}-fpp${fpp}`, frames, fpp, world: 1 });
  for (const mb of args.convChunks) {
    const [frames, fpp] = [args.frames[0], args.fpp[0]];
    cases.push({ name: `vae-${frames}x${args.size}-fpp${fpp}-chunk${mb}`, frames, fpp, world: 1, env: { OPENDIT_CUDA_CONV_CHUNK_MB: String(mb) } });
  }
  const skipped = [];
  for (const world of args.worlds) {
    if (world === 1) continue;
    if (world > gpus) {
      skipped.push(`patch over ${world} GPUs (this machine has ${gpus})`);
      continue;
    }
    cases.push({ name: `vae-${args.multiFrames}x${args.size}-fpp1-patch${world}`, frames: args.multiFrames, fpp: 1, world });
  }
  const rows = [];
  for (const c of cases) rows.push(await runCase(c, args));
  for (const s of skipped) console.log(`not run: ${s}`);

  if (args.json) {
    writeFileSync(args.json, `${JSON.stringify({ benchmark: "opendit-vae-decode", backend: args.backend, size: args.size, gpus, addon: info, node: process.version, skipped, cases: rows }, null, 2)}\n`);
  }
  const lines = [
    "",
    `opendit ${args.backend} VAE decode (sd-vae-ft-ema architecture, random bf16 weights, ${args.size}x${args.size}): ms per frame = median pass after the first / frames per pass`,
    `${"case".padEnd(28)} ${"split".padEnd(8)} ${"ms/frame".padStart(9)} ${"est ms/f".padStart(9)} ${"decode s".padStart(9)} ${"passes s".padStart(9)} ${"rank GiB".padStart(14)} ${"plan GiB".padStart(9)}`,
  ];
  for (const r of rows) {
    if (r.error) {
      lines.push(`${r.name.padEnd(28)} FAILED: ${r.error.slice(0, 140)}`);
      continue;
    }
    lines.push(
      `${r.name.padEnd(28)} ${r.split.padEnd(8)} ${(r.msPerFrame?.toFixed(2) ?? "-").padStart(9)} ${r.estimatedMsPerFrame.toFixed(2).padStart(9)} ${(r.decodeSeconds?.toFixed(2) ?? "-").padStart(9)} ${(r.passesSeconds?.toFixed(2) ?? "-").padStart(9)} ${(r.rankPeakBytes ? r.rankPeakBytes.map(gib).join("/") : "-").padStart(14)} ${gib(r.estimatedPeakBytes).padStart(9)}`,
    );
  }
  if (args.pytorch) lines.push(...comparison(rows, args.pytorch));
  console.log(lines.join("\n"));
  process.exitCode = rows.some((r) => r.error) ? 1 : 0;
}

main().catch((error) => {
  console.error(`bench-vae failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exitCode = 2;
});
