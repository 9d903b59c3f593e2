/**
 * One rank of a parallel run, in its own process: its weights and inputs built exactly as the one-rank path
 * builds them (runtime/run/weights.ts and inputs.ts, from the job's Spec and Plan), its transport endpoint opened
 * (addon openTransport) and published at the rendezvous, the native run with its rank and the peer table, its
 * progress forwarded to the store (on a representative rank of a run with `output.preview_every`, with the
 * latent after every N-th step: runtime/launch/previews.ts), and its report sent at the end: timings; the plan's
 * outputs from a representative rank (runtime/launch/assemble.ts); and from the rank whose native run returned
 * the VAE decode's `video` (a decoding rank, plan.decode.ranks, whatever its other coordinates), that video as
 * 8-bit RGB with its dp coordinate and first sample (runtime/media/run-media.ts decodedRgbVideos, the one-rank
 * run's conversion). A failure is reported to the store (which aborts every rank) and written to
 * OPENDIT_ERROR_FILE as {rank, message, time}; an abort from the store rejects with RankAbortedError.
 */
import { writeFileSync } from "node:fs";
import { hostname, networkInterfaces } from "node:os";
import { performance } from "node:perf_hooks";
import { decodedRgbVideos, makesImages } from "../media/run-media.js";
import { loadNative, type NativeAddon, type NativeProgress, type NativeRunResult } from "../native/addon.js";
import { messageOf } from "../run/errors.js";
import { runInputs } from "../run/inputs.js";
import { runWeights } from "../run/weights.js";
import { decodedSamples, isRepresentative } from "./assemble.js";
import { missingRendezvous, type RankEnvironment } from "./env.js";
import type { RankJob } from "./job.js";
import { rankPreviewEvery, splitPreview } from "./previews.js";
import { encodeTensor, encodeVideo, joinRendezvous, reportFailure, type RankReport, type StoreClient, type WireVideo } from "./store.js";

/** The store told this rank to stop: another rank failed, the rendezvous timed out, or the launcher stops. */
export class RankAbortedError extends Error {
  override readonly name = "RankAbortedError";
}

/** What a rank's error file holds. */
export interface RankErrorRecord {
  readonly rank: number;
  readonly message: string;
  /** Milliseconds since the epoch. */
  readonly time: number;
  /** Whether the rank stopped because the store told it to (its failure is a consequence, not a cause). */
  readonly aborted?: boolean;
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

/**
 * The address this rank's endpoint is published under: OPENDIT_HOST; else 127.0.0.1 when the store is on this
 * machine's loopback (one node); else this machine's first non-internal IPv4 address; else its hostname.
 */
export function endpointHost(env: RankEnvironment): string {
  if (env.host) return env.host;
  if (!env.rendezvous || isLoopback(env.rendezvous.host)) return "127.0.0.1";
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return hostname();
}

/**
 * The CUDA device index of this rank, as its process sees the devices: 0 under our launcher (it gives each rank
 * its one device in CUDA_VISIBLE_DEVICES); under a foreign one `runtime.devices[localRank]`, else the local rank.
 * (A plan of several ranks runs on CUDA only in a build with NCCL: runtime/run/run.ts chooseBackend.)
 */
export function rankDevice(job: RankJob, env: RankEnvironment): number {
  if (env.launcher === "opendit") return 0;
  return job.spec.runtime?.devices?.[env.localRank] ?? env.localRank;
}

/**
 * The report's video: the native run's `video` output [samples, 3, frames, H, W] as 8-bit RGB, with the dp
 * coordinate and the first sample it holds (assemble.ts decodedSamples); undefined where the run returned none.
 */
export function rankVideo(job: RankJob, rank: number, result: NativeRunResult): WireVideo | undefined {
  const video = result.outputs.find((t) => t.name === "video");
  if (!video) return undefined;
  const at = decodedSamples(job.plan, rank);
  if (!at) throw new Error(`rank ${rank}: the native run returned a decoded \`video\`, but the plan has no decode`);
  if (video.shape[0] !== at.count) throw new Error(`rank ${rank}: the decoded \`video\` is [${video.shape.join(", ")}], but plan.decode gives each dp coordinate ${at.count} samples`);
  return encodeVideo(at.dp, at.first, decodedRgbVideos(video, makesImages(job.spec)));
}

/** Writes the error file (best effort: a rank that cannot write it still exits non-zero). */
export function writeErrorFile(path: string | undefined, record: RankErrorRecord): void {
  if (!path) return;
  try {
    writeFileSync(path, `${JSON.stringify(record)}\n`);
  } catch {
    // The launcher falls back to the exit status and the log.
  }
}

export interface RankRunOptions {
  readonly native?: NativeAddon;
  /** Also called with each progress event (the CLI's bar under a foreign launcher). */
  readonly onProgress?: (progress: NativeProgress) => void;
  /** Called once the peer table arrived (the rank is about to run). */
  readonly onJoined?: (client: StoreClient) => void;
}

/**
 * Runs rank `env.rank` of `job`. Resolves with the native result once the report is in the store; rejects with
 * the rank's error (a RunError's message, a native error's, a RendezvousError, or RankAbortedError) after
 * reporting it to the store and writing the error file.
 */
export async function runRank(job: RankJob, env: RankEnvironment, options: RankRunOptions = {}): Promise<NativeRunResult> {
  const started = performance.now();
  const store = env.rendezvous;
  let client: StoreClient | undefined;
  let abortedBy: RankAbortedError | undefined;
  try {
    if (!store) throw new Error(missingRendezvous(env));
    const native = options.native ?? loadNative();
    const weights = runWeights(job.plan, job.baseDir);
    const inputs = await runInputs(job.spec, job.plan, job.baseDir);
    const host = endpointHost(env);
    const { port } = native.openTransport({ rank: env.rank, world: env.world, host });
    client = await joinRendezvous(store, { rank: env.rank, host, port }, env.rendezvousTimeoutMs);
    const joined = client;
    options.onJoined?.(joined);
    let rejectAbort!: (e: Error) => void;
    const abort = new Promise<never>((_, rej) => (rejectAbort = rej));
    abort.catch(() => undefined);
    const previewEvery = rankPreviewEvery(job, env.rank);
    joined.onAbort((message, rank) => {
      abortedBy = new RankAbortedError(rank !== undefined && rank !== env.rank ? `stopped because rank ${rank} failed: ${message}` : `stopped: ${message}`);
      rejectAbort(abortedBy);
    });
    const result = await Promise.race([
      native.run(
        {
          plan: job.planText,
          weights,
          inputs,
          rank: env.rank,
          backend: job.backend,
          device: rankDevice(job, env),
          transport: { peers: joined.peers, timeoutMs: env.collectiveTimeoutMs },
          ...(job.stopAfter !== undefined ? { steps: job.stopAfter } : {}),
          ...(job.threads !== undefined ? { threads: job.threads } : {}),
          ...(previewEvery !== undefined ? { previewEvery } : {}),
        },
        // A step's latent (previewEvery) goes to the store on its own; the progress without it.
        splitPreview(
          (p) => {
            joined.progress(p);
            options.onProgress?.(p);
          },
          (step, latent) => joined.preview(step, latent),
        ),
      ),
      abort,
    ]);
    const planOutputs = result.outputs.filter((t) => job.plan.outputs.some((o) => o.name === t.name));
    const video = rankVideo(job, env.rank, result);
    const report: RankReport = {
      rank: env.rank,
      ...(isRepresentative(job.plan, env.rank) ? { outputs: planOutputs.map((t) => encodeTensor(t.name, t.shape, t.data)) } : {}),
      ...(video ? { video } : {}),
      timings: result.timings,
      threads: result.threads,
      arenaBytes: result.arenaBytes,
      weightBytes: result.weightBytes,
      hostname: hostname(),
      seconds: (performance.now() - started) / 1000,
    };
    await joined.done(report);
    joined.close();
    return result;
  } catch (error) {
    const aborted = abortedBy !== undefined || error instanceof RankAbortedError || (error as { fromHost?: boolean }).fromHost === true;
    const message = abortedBy?.message ?? messageOf(error);
    writeErrorFile(env.errorFile, { rank: env.rank, message, time: Date.now(), ...(aborted ? { aborted: true } : {}) });
    if (!aborted) {
      if (client) await client.fail(message);
      else if (store) await reportFailure(store, env.rank, message);
    }
    client?.close();
    throw abortedBy ?? error;
  }
}
