/**
 * The local geometry one rank works with, derived once from the checked Spec and its layout: how many samples
 * the model batch holds, which dimension the sequence axes shard and the resulting local frames and tokens.
 *
 * Sharding, at rest between blocks (one choice for all families, so every lowering shares it):
 * - `dsp`: the token frames are split over the DSP group (DSP's resting shard, opendit-videosys.md §2.2);
 *   spatial attention is local, temporal attention switches to a token shard with one all-to-all and back.
 * - `tokens`: Ulysses x Ring split the rows·cols positions of every frame over the sequence group (Ulysses
 *   innermost, so a rank's run index is ring·U + ulysses); temporal attention is local, spatial attention
 *   gathers its sequence with Ulysses all-to-alls over heads and the Ring exchange of K/V.
 * - `none`: everything local.
 * Where a split is uneven and the Spec allows padding, the split dimension is padded at its end (../padding.ts):
 * the local sizes and every op's shapes follow the padded sizes Tp, Sp and Hp, while T, S and heads stay the
 * model's, for what depends on the real sample (positions' scales, masking bounds, the latent).
 */
import type { Facts } from "../../check/facts.js";
import type { Geometry, Hyper, ModelFamily } from "../../models/types.js";
import type { Spec } from "../../spec/schema.js";
import type { PlanDtype, PlanPadding } from "../../plan/types.js";
import type { PabPlan } from "../pab.js";
import { layoutPadding } from "../padding.js";
import type { PipeFusionPass } from "../pipefusion/pass.js";
import type { ProgramBuilder } from "./builder.js";

export type SequenceSharding = "none" | "dsp" | "tokens";

export interface LowerContext {
  readonly b: ProgramBuilder;
  readonly spec: Spec;
  readonly family: ModelFamily;
  readonly hyper: Hyper;
  readonly geometry: Geometry;
  readonly pab: PabPlan;
  readonly dtype: PlanDtype;
  readonly D: number;
  readonly heads: number;
  readonly headDim: number;
  /** Token frames and tokens per frame (rows·cols) of the whole sample. */
  readonly T: number;
  readonly S: number;
  /** T and S padded so that their splits are even: the frames and tokens per frame the ops lay out. */
  readonly Tp: number;
  readonly Sp: number;
  /** Heads padded to the ulysses degree (`pad_heads`): spatial attention's heads across its all-to-alls. */
  readonly Hp: number;
  /** What is padded, for the plan; empty when every split is even. */
  readonly padding: readonly PlanPadding[];
  /** Samples of the run, and those this rank's dp part holds. */
  readonly samples: number;
  readonly localSamples: number;
  /** Whether guidance runs an unconditional branch, and whether CFG parallel splits it across ranks. */
  readonly guided: boolean;
  readonly cfgParallel: boolean;
  /** Samples in the model batch on this rank (both CFG halves unless CFG parallel). */
  readonly n: number;
  readonly sharding: SequenceSharding;
  readonly dsp: number;
  readonly ulysses: number;
  readonly ring: number;
  /** Local token frames and tokens per frame at rest (of Tp and Sp). */
  readonly Tl: number;
  readonly Sl: number;
  /** Rows of the residual stream on this rank: n·Tl·Sl. */
  readonly rows: number;
  /**
   * PipeFusion: the pass being lowered (warm-up, or one row band whose tokens Sl and rows then count); set only
   * by lower/pipefusion, absent for every other layout.
   */
  readonly pipefusion?: PipeFusionPass;
}

/**
 * Samples of the run: prompts or labels; one when there are none, and one for an embeddings file, which holds
 * the features of one sample (`y` [1, L, C], schema's `conditioning.embeddings`). The count is never read from
 * the file: checking and lowering read no input file, so a plan does not depend on what a file holds; the
 * runtime is to refuse a file whose `y` is not one sample of the plan's `text` rows.
 */
export function sampleCount(spec: Spec): number {
  const c = spec.conditioning;
  return c?.prompts?.length ?? c?.labels?.length ?? 1;
}

export function createLowerContext(b: ProgramBuilder, spec: Spec, facts: Facts, pab: PabPlan): LowerContext {
  const { family, hyper, geometry, degrees } = facts;
  if (!family || !hyper || !geometry) throw new Error("lowering needs a family, hyperparameters and a size (the checker guarantees them)");
  // PipeFusion changes the whole program (stages, patches, two phases): it is lowered by lower/pipefusion, never
  // here, so a layout with a pipefusion axis must not reach the single-program path silently.
  if (degrees.pipefusion > 1) throw new Error("a pipefusion layout must be lowered by lower/pipefusion");
  const T = geometry.tokenFrames;
  const S = geometry.tokenRows * geometry.tokenCols;
  const samples = sampleCount(spec);
  if (samples % degrees.dp !== 0) throw new Error(`${samples} samples do not split over dp ${degrees.dp}`);
  const localSamples = samples / degrees.dp;
  const guided = facts.cfg;
  const cfgParallel = degrees.cfg > 1;
  const n = guided && !cfgParallel ? 2 * localSamples : localSamples;
  const sequence = degrees.ulysses * degrees.ring;
  const sharding: SequenceSharding = degrees.dsp > 1 ? "dsp" : sequence > 1 ? "tokens" : "none";
  // DSP splits the frames at rest and the tokens of a frame for temporal attention; Ulysses x Ring the tokens.
  const tokenParts = sharding === "dsp" ? degrees.dsp : sharding === "tokens" ? sequence : 1;
  const padding = layoutPadding(
    spec,
    { frames: T, tokens: S, heads: hyper.heads },
    { frames: sharding === "dsp" ? degrees.dsp : 1, tokens: tokenParts, heads: degrees.ulysses },
  );
  const Tp = padding.frames;
  const Sp = padding.tokens;
  const Tl = sharding === "dsp" ? Tp / degrees.dsp : Tp;
  const Sl = sharding === "tokens" ? Sp / sequence : Sp;
  return {
    b,
    spec,
    family,
    hyper,
    geometry,
    pab,
    dtype: b.dtype,
    D: hyper.hidden,
    heads: hyper.heads,
    headDim: hyper.headDim,
    T,
    S,
    Tp,
    Sp,
    Hp: padding.heads,
    padding: padding.summary,
    samples,
    localSamples,
    guided,
    cfgParallel,
    n,
    sharding,
    dsp: degrees.dsp,
    ulysses: degrees.ulysses,
    ring: degrees.ring,
    Tl,
    Sl,
    rows: n * Tl * Sl,
  };
}
