/**
 * The small expression forms both surface syntaxes share: a parallel layout (`cfg 2 x dsp 4`) and a PAB
 * window (`every 2 in [450, 930]`). In the Spec they are strings exactly as written; the checker parses them
 * with grammar/expr so that a mistake inside one points at the exact term.
 */
import type { Code } from "../../diagnostics/codes.js";
import type { Range } from "../source.js";

/** Parallel axes. Order of the canonical mesh, outermost first: dp, cfg, pipefusion, ring, ulysses / dsp. */
export const AXES = ["dp", "cfg", "pipefusion", "ring", "ulysses", "dsp"] as const;
export type Axis = (typeof AXES)[number];

export interface LayoutTerm {
  readonly axis: Axis;
  readonly degree: number;
  /** The whole `axis degree` term. */
  readonly range: Range;
  readonly axisRange: Range;
  readonly degreeRange: Range;
}

export interface Layout {
  /** Terms in the order written (outermost first). */
  readonly terms: readonly LayoutTerm[];
  readonly range: Range;
}

export type PabWindow =
  | {
      readonly kind: "window";
      /** Recompute at steps whose index is a multiple of `every`; reuse otherwise (inside the window). */
      readonly every: number;
      /** Exclusive bounds on the timestep (noise level, 1000 = pure noise). */
      readonly low: number;
      readonly high: number;
      readonly range: Range;
      readonly everyRange: Range;
      readonly lowRange: Range;
      readonly highRange: Range;
    }
  | { readonly kind: "off"; readonly range: Range };

/** A problem found while parsing an expression, with file offsets. */
export interface ExprIssue {
  readonly code: Code;
  readonly message: string;
  readonly range: Range;
  readonly hint?: string;
  readonly suggestions?: readonly string[];
}

export interface ExprResult<T> {
  /** Present only when the expression parsed with no issues at all. */
  readonly value?: T;
  readonly issues: readonly ExprIssue[];
}
