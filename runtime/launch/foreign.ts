/**
 * `opendit run` started by a foreign launcher (torchrun, srun, mpirun; env.ts says how it is recognised): this
 * process is one rank. Global rank 0 also hosts the rendezvous store at the address the environment names
 * (listening on every interface at its port) and, once every rank reported, writes the outputs (publish.ts); the
 * other ranks run and exit. Each process writes its error to stderr itself, and the launcher's own failure
 * handling (torchrun stops the others when one exits non-zero) applies on top of the store's abort.
 */
import { performance } from "node:perf_hooks";
import type { NativeAddon, NativeProgress } from "../native/addon.js";
import { RunError } from "../run/errors.js";
import { checkWorld, missingRendezvous, type RankEnvironment } from "./env.js";
import type { RankJob } from "./job.js";
import { publishRun, type PublishedRun } from "./publish.js";
import { runRank } from "./rank.js";
import { hostStore, type StoreHost, type WireTensor } from "./store.js";

export interface ForeignRankOptions {
  readonly outDir: string;
  readonly version: string;
  readonly onProgress?: (progress: NativeProgress) => void;
  /** Rank 0: a representative rank's latent after a step, for the previews during the run (previews.ts). */
  readonly onPreview?: (rank: number, step: number, latent: WireTensor) => void;
  readonly native?: NativeAddon;
}

/** Runs this process's rank; on rank 0 resolves with what was written, elsewhere with undefined. */
export async function runForeignRank(job: RankJob, env: RankEnvironment, options: ForeignRankOptions): Promise<PublishedRun | undefined> {
  checkWorld(env, job.plan.mesh.world);
  if (!env.rendezvous) throw new RunError(missingRendezvous(env));
  const started = performance.now();
  let store: StoreHost | undefined;
  try {
    if (env.rank === 0) {
      try {
        store = await hostStore(
          { host: "0.0.0.0", port: env.rendezvous.port },
          { world: env.world, timeoutMs: env.rendezvousTimeoutMs, ...(options.onPreview ? { onPreview: options.onPreview } : {}) },
        );
      } catch (error) {
        throw new RunError((error as Error).message);
      }
    }
    try {
      await runRank(job, env, { ...(options.onProgress ? { onProgress: options.onProgress } : {}), ...(options.native ? { native: options.native } : {}) });
    } catch (error) {
      throw new RunError(`rank ${env.rank}: ${(error as Error).message}`);
    }
    if (!store) return undefined;
    let reports;
    try {
      reports = await store.reports;
    } catch (error) {
      throw new RunError((error as Error).message);
    }
    return await publishRun(job, reports, options.outDir, options.version, started);
  } finally {
    await store?.close();
  }
}
