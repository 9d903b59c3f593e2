/**
 * The step patterns of a PipeFusion plan. Which ops a step runs depends on three more things than PAB's
 * compute/reuse modes: its phase (the first `warmup` steps are synchronous, the rest pipelined), whether stage 0
 * receives the latent bands the last stage sent at the end of the previous step (every step but the first),
 * and whether the last stage sends them on (every step but the last: nobody would receive them). A step's
 * pattern is the tuple (PAB pattern, phase, latentIn, latentOut); distinct tuples are numbered in order of
 * first appearance, as PAB numbers its own, so the CUDA backend still captures one graph per pattern.
 */
import type { PlanPattern } from "../../plan/types.js";
import type { PipeFusionSettings } from "./settings.js";

export interface SteppedPatterns {
  readonly patterns: PlanPattern[];
  /** The pattern id of every step. */
  readonly stepPatterns: number[];
}

export function phaseOfStep(step: number, settings: Pick<PipeFusionSettings, "warmup">): "warmup" | "pipelined" {
  return step < settings.warmup ? "warmup" : "pipelined";
}

/** Combines PAB's patterns (`base`, and the base pattern of each step) with the PipeFusion phase of each step. */
export function pipeFusionPatterns(base: readonly PlanPattern[], basePatternOfStep: readonly number[], settings: PipeFusionSettings): SteppedPatterns {
  const patterns: PlanPattern[] = [];
  const keys: string[] = [];
  const stepPatterns = basePatternOfStep.map((baseId, step) => {
    const pab = base.find((p) => p.id === baseId);
    if (!pab) throw new Error(`step ${step} names PAB pattern ${baseId}, which does not exist`);
    const phase = phaseOfStep(step, settings);
    const latentIn = step > 0;
    const latentOut = step + 1 < basePatternOfStep.length;
    const key = JSON.stringify([baseId, phase, latentIn, latentOut]);
    let id = keys.indexOf(key);
    if (id < 0) {
      id = keys.length;
      keys.push(key);
      patterns.push({ id, reuse: pab.reuse, mlpReuse: pab.mlpReuse, mlpKeep: pab.mlpKeep, steps: 0, phase, latentIn, latentOut });
    }
    const p = patterns[id]!;
    patterns[id] = { ...p, steps: p.steps + 1 };
    return id;
  });
  return { patterns, stepPatterns };
}
