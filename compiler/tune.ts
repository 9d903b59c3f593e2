/**
 * tune(): every parallel layout that fits a pipeline on N ranks (check/layouts.ts validLayouts), each compiled
 * with that layout and world N exactly as `opendit plan --world N --layout L` would, ranked by the cost model's
 * end-to-end estimate. A layout that fits by shape can still fail (its memory exceeds the GPU, the family
 * cannot lower it yet); those are kept with the reason, so nothing is dropped silently.
 */
import type { Code } from "../diagnostics/codes.js";
import { validLayouts } from "./check/layouts.js";
import { compile, type CompileOptions, type CompileResult, type CompileSource } from "./compile.js";
import { summarizePlan } from "./plan/summary.js";
import type { Plan } from "./plan/types.js";

export interface TuneOptions extends Omit<CompileOptions, "world" | "layout"> {
  /** Ranks to place the pipeline on. */
  readonly gpus: number;
}

/** A layout that lowered, with the figures it is ranked and shown by. */
export interface TunedLayout {
  readonly layout: string;
  readonly plan: Plan;
  /** The mean step of the run, seconds. */
  readonly stepSeconds: number;
  readonly totalSeconds: number;
  readonly peakBytesPerRank: number;
  /** Bytes a rank sends in an average step. */
  readonly commBytesPerStep: number;
}

/** A layout that fits by shape but did not lower: its first error says why. */
export interface FailedLayout {
  readonly layout: string;
  /** The first error's code and message. */
  readonly code: Code | undefined;
  readonly reason: string;
  readonly result: CompileResult;
}

export interface TuneResult {
  /** The pipeline compiled with world N and its own layout: where its Spec and facts come from. */
  readonly base: CompileResult;
  /** Every layout validLayouts lists, in its order. */
  readonly layouts: readonly string[];
  /** Fastest first (ties keep validLayouts' preference order). */
  readonly ranked: readonly TunedLayout[];
  readonly failed: readonly FailedLayout[];
}

export function tune(source: CompileSource, options: TuneOptions): TuneResult {
  const { gpus, ...rest } = options;
  const base = compile(source, { ...rest, world: gpus });
  const layouts = base.spec && base.facts ? validLayouts(base.spec, base.facts, gpus) : [];
  const ranked: TunedLayout[] = [];
  const failed: FailedLayout[] = [];
  for (const layout of layouts) {
    const result = compile(source, { ...rest, world: gpus, layout });
    if (!result.plan) {
      const error = result.diagnostics.find((d) => d.severity === "error");
      failed.push({ layout, code: error?.code, reason: error?.message ?? "No plan was produced.", result });
      continue;
    }
    const summary = summarizePlan(result.plan);
    ranked.push({
      layout,
      plan: result.plan,
      stepSeconds: summary.time.meanStepSeconds,
      totalSeconds: result.plan.cost.totalSeconds,
      peakBytesPerRank: result.plan.cost.peakBytesPerRank,
      commBytesPerStep: summary.commBytesPerStep,
    });
  }
  // Array.prototype.sort is stable, so equal estimates keep validLayouts' order.
  ranked.sort((a, b) => a.totalSeconds - b.totalSeconds);
  return { base, layouts, ranked, failed };
}
