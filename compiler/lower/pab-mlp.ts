/**
 * MLP broadcast of one block kind, lowered to a static per-step schedule: at each listed step the listed blocks
 * compute their (gated) MLP output and keep it; the `reuse` steps after it read the kept output instead of
 * running the MLP; the kept output is freed after its last reader. Blocks not listed always compute.
 *
 * VideoSys keys this by exact integer timesteps and finds the range at run time (opendit-videosys.md §1.3),
 * which silently matches nothing at another resolution and, at HEAD, crashes for Open-Sora (§1.7). Here the
 * Spec names step indices, so the whole schedule is known before anything runs.
 *
 * When a later listed step falls inside an earlier step's reuse range, the later step computes and keeps a
 * fresh output, and the earlier output's range ends before it (the freshest output is the better stand-in,
 * and this keeps at most one output per block alive). A listed step whose next step is listed too keeps
 * nothing: its output would never be read.
 */
import type { BlockKind } from "../models/types.js";
import type { MlpBroadcastSpec } from "../spec/schema.js";

/** What the listed blocks do with their MLP at one step. */
export type MlpMode = "compute" | "keep" | "reuse";

/** One kept output: computed at `step`, read at `firstReuse` .. `lastReuse`, freed after `lastReuse`. */
export interface MlpKeep {
  readonly step: number;
  readonly firstReuse: number;
  readonly lastReuse: number;
}

export interface MlpBroadcastPlan {
  readonly blockKind: BlockKind;
  /** Block indices whose MLP is broadcast, ascending. */
  readonly blocks: readonly number[];
  /** Steps after a kept step that may reuse it, as the Spec gives it. */
  readonly reuse: number;
  readonly keeps: readonly MlpKeep[];
  /** The listed blocks' mode at every step. */
  readonly modes: readonly MlpMode[];
  /** One letter a step: C computes, K computes and keeps, B reuses (broadcasts) the kept output. */
  readonly letters: string;
  /** Kept outputs of this block kind alive during each step (one per listed block while a keep is alive). */
  readonly live: readonly number[];
}

const LETTER: Readonly<Record<MlpMode, string>> = { compute: "C", keep: "K", reuse: "B" };

/**
 * Lowers one block kind's MLP broadcast over `stepCount` steps of a model with `depth` blocks of that kind. The
 * Spec must have passed the checker (steps inside the schedule, blocks below depth, reuse ranges ending by the
 * last step); a violation is a caller's bug and throws.
 */
export function lowerMlpBroadcast(blockKind: BlockKind, spec: MlpBroadcastSpec, stepCount: number, depth: number): MlpBroadcastPlan {
  const last = stepCount - 1;
  const steps = [...spec.steps].sort((a, b) => a - b);
  const blocks = [...spec.blocks].sort((a, b) => a - b);
  for (const s of steps) {
    if (s > last || s + spec.reuse > last) {
      throw new Error(`MLP broadcast of ${blockKind} blocks keeps step ${s} for ${spec.reuse} steps, past the last step ${last}`);
    }
  }
  for (const b of blocks) {
    if (b >= depth) throw new Error(`MLP broadcast names ${blockKind} block ${b}, but the model has ${depth}`);
  }

  const modes: MlpMode[] = Array.from({ length: stepCount }, () => "compute");
  const keeps: MlpKeep[] = [];
  steps.forEach((step, i) => {
    const next = steps[i + 1] ?? Infinity;
    const lastReuse = Math.min(step + spec.reuse, next - 1);
    if (lastReuse <= step) return;
    keeps.push(Object.freeze({ step, firstReuse: step + 1, lastReuse }));
    modes[step] = "keep";
    for (let r = step + 1; r <= lastReuse; r++) modes[r] = "reuse";
  });

  // A kept output is written during its keep step and read last during lastReuse, so it is alive on both.
  const live = modes.map((_, i) => (keeps.some((k) => k.step <= i && i <= k.lastReuse) ? blocks.length : 0));
  return Object.freeze({
    blockKind,
    blocks: Object.freeze(blocks),
    reuse: spec.reuse,
    keeps: Object.freeze(keeps),
    modes: Object.freeze(modes),
    letters: modes.map((m) => LETTER[m]).join(""),
    live: Object.freeze(live),
  });
}
