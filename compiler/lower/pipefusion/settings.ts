/**
 * PipeFusion's settings as lowering uses them (stages, patches, warm-up steps), the layouts it does not lower
 * yet, and the split of the model's blocks into stages.
 *
 * The split: L blocks in the order the family runs them (spatial and temporal blocks of interleaved families
 * as one list, as xDiT concatenates Flux's two block lists), P stages; stage s holds the blocks at positions
 * [ceil(s·L/P), ceil((s+1)·L/P)). Every stage gets at least one block when P <= L (the checker's
 * PipeFusionStagesRule), and the remainder goes to the first stages, so the last stage, which also runs the
 * final layer, guidance and the solver, is never the longest.
 */
import type { Facts } from "../../check/facts.js";
import type { PabPlan } from "../pab.js";
import type { Spec } from "../../spec/schema.js";

export interface PipeFusionSettings {
  /** Pipeline stages: the pipefusion degree. */
  readonly stages: number;
  /** Row bands the token grid is split into. */
  readonly patches: number;
  /** Synchronous warm-up steps (the first `warmup` steps); the rest are pipelined. */
  readonly warmup: number;
  readonly steps: number;
}

/** The settings of a layout with a pipefusion axis above 1; undefined for every other layout. */
export function pipeFusionSettings(spec: Spec, facts: Facts): PipeFusionSettings | undefined {
  const stages = facts.degrees.pipefusion;
  if (stages <= 1) return undefined;
  const settings = spec.parallel?.pipefusion;
  if (!settings) throw new Error(`pipefusion ${stages} without \`parallel.pipefusion\` settings (the checker requires them)`);
  const steps = spec.scheduler.steps;
  if (settings.warmup > steps) throw new Error(`pipefusion warm-up ${settings.warmup} exceeds the ${steps} steps (the checker rejects this)`);
  const { ring, dsp } = facts.degrees;
  // Ring attention would rotate each rank's cached K/V chunk; the chunks a rank holds differ between the warm-up
  // layout (one contiguous run) and the banded layout (its run of every band), which is not lowered yet.
  if (ring > 1) throw new Error(`\`pipefusion ${stages} x ring ${ring}\` is not lowered: PipeFusion combines with ulysses and cfg, not ring`);
  if (dsp > 1) throw new Error(`\`pipefusion ${stages} x dsp ${dsp}\` is not lowered: DSP's frame sharding does not split into row bands`);
  return { stages, patches: settings.patches, warmup: settings.warmup, steps };
}

/**
 * PAB reuses an attention output kept from an earlier step; with row bands that output would have to be kept
 * per band and per phase. Refused with a message naming the combination.
 */
export function refusePab(pab: PabPlan, stages: number): void {
  const reused = pab.attention.filter((a) => a.cache.exists).map((a) => a.kind);
  if (reused.length > 0 || pab.mlp.length > 0) {
    const what = [...reused.map((k) => `${k} attention`), ...(pab.mlp.length > 0 ? ["MLP"] : [])].join(", ");
    throw new Error(`PAB (${what} broadcast) with \`pipefusion ${stages}\` is not lowered: remove the acceleration or the pipefusion axis`);
  }
}

/** The facts one stage lowers with: within a stage the layout is the same layout without its pipefusion axis. */
export function withinStage(facts: Facts): Facts {
  return { ...facts, degrees: { ...facts.degrees, pipefusion: 1 } };
}

/** The stage holding the block at `position` (0-based) of `blocks` blocks split over `stages`. */
export function stageOfBlock(position: number, blocks: number, stages: number): number {
  if (blocks < stages) throw new Error(`${stages} pipeline stages for ${blocks} blocks (the checker rejects this)`);
  if (position < 0 || position >= blocks) throw new Error(`block position ${position} outside ${blocks} blocks`);
  let s = 0;
  while (s + 1 < stages && firstBlockOfStage(s + 1, blocks, stages) <= position) s++;
  return s;
}

/** The first block position of stage `s`: ceil(s·L/P). */
export function firstBlockOfStage(s: number, blocks: number, stages: number): number {
  return Math.ceil((s * blocks) / stages);
}
