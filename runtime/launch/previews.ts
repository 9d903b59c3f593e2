/**
 * A parallel run's previews during the run (`output.preview_every`, runtime/media/step-previews.ts). The running
 * latent is whole on every rank that holds a dp coordinate's samples once a step has finished (the same ranks whose
 * final latent is the run's output), so the representative ranks (assemble.ts representativeRanks: one per dp
 * coordinate, on PipeFusion's last stage) ask their native run for it (request.previewEvery) and send each one to
 * the store (store.ts `preview`, its tensor as a WireTensor); the process hosting the store (the launcher of node
 * 0, or rank 0 under a foreign launcher) puts a step's latents together in dp order, which is sample order, as
 * the outputs are (assemble.ts), and hands the whole latent to the preview writer. A step some representative
 * never sent (the run failed first) is not previewed.
 */
import type { Plan } from "../../compiler/plan/types.js";
import type { NativeLatent, NativeProgress } from "../native/addon.js";
import { representativeRanks } from "./assemble.js";
import type { RankJob } from "./job.js";
import { decodeTensor, encodeTensor, type WireTensor } from "./store.js";

/** The previewEvery a rank's native run is asked for: N on a representative rank when the Spec asks, else none. */
export function rankPreviewEvery(job: RankJob, rank: number): number | undefined {
  const every = job.spec.output?.preview_every;
  if (every === undefined || !representativeRanks(job.plan).includes(rank)) return undefined;
  return every;
}

/** What a rank sends for a step's latent. */
export function wirePreview(latent: NativeLatent): WireTensor {
  return encodeTensor("latents", latent.shape, latent.data);
}

/**
 * A rank's progress callback: the event without its latent goes to `progress` (the store's progress line, the
 * CLI's bar), the latent to `preview`.
 */
export function splitPreview(progress: (p: NativeProgress) => void, preview: (step: number, latent: WireTensor) => void): (p: NativeProgress) => void {
  return (p) => {
    const { latent, ...rest } = p;
    if (latent) preview(p.step, wirePreview(latent));
    progress(rest);
  };
}

/**
 * Gathers the representatives' latents of each step (store.ts onPreview) and calls `onLatent` with a step's whole
 * latent [samples, C, T, H, W] once every representative's has come, in dp order. Latents from other ranks, of a
 * step already complete, or that do not fit the others are ignored: the latents of a later step still come.
 */
export function previewAssembler(plan: Plan, onLatent: (step: number, latent: NativeLatent) => void): (rank: number, step: number, latent: WireTensor) => void {
  const reps = representativeRanks(plan);
  const pending = new Map<number, (NativeLatent | undefined)[]>();
  const done = new Set<number>();
  return (rank, step, wire) => {
    const at = reps.indexOf(rank);
    if (at < 0 || done.has(step)) return;
    const parts = pending.get(step) ?? new Array<NativeLatent | undefined>(reps.length).fill(undefined);
    parts[at] = decodeTensor(wire);
    pending.set(step, parts);
    if (parts.some((p) => p === undefined)) return;
    pending.delete(step);
    done.add(step);
    const whole = parts as NativeLatent[];
    const rest = whole[0]!.shape.slice(1);
    if (!whole.every((p) => p.shape.length === rest.length + 1 && p.shape.slice(1).every((d, i) => d === rest[i]))) return;
    const data = new Float32Array(whole.reduce((n, p) => n + p.data.length, 0));
    let offset = 0;
    for (const p of whole) {
      data.set(p.data, offset);
      offset += p.data.length;
    }
    onLatent(step, { shape: [whole.reduce((n, p) => n + p.shape[0]!, 0), ...rest], data });
  };
}
