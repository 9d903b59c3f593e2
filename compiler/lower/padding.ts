/**
 * What a layout pads so that every split is even (issue 3: "uneven splits are padded with masking, and the
 * waste is reported"), decided once from the checked Spec and the parts each dimension splits into:
 * - token frames, split by DSP for spatial attention: to a multiple of the dsp degree;
 * - tokens of a frame, split by DSP for temporal attention or by Ulysses x Ring at rest: to a multiple of the
 *   degree that splits them;
 * - attention heads, split by Ulysses: to a multiple of the ulysses degree, with zero heads.
 * Padding always goes at the end of its dimension, so a real position keeps its index (and its rotary and table
 * positions) and masking keys is one bound per sequence (SelfAttentionOp.validKeys).
 *
 * Frames and tokens need `parallel.pad: true`, heads `pad_heads: true`: the checker rejects an uneven split
 * without them (OD3102-OD3104) and reports the waste with them (OD3113), so an unrequested one here is a defect.
 */
import { padTo } from "../check/layouts.js";
import type { PlanPadding } from "../plan/types.js";
import type { Spec } from "../spec/schema.js";

type Dim = PlanPadding["dim"];

/** The sizes the ops run with, and what the plan reports. */
export interface LayoutPadding {
  /** Token frames, tokens per frame and attention heads as the ops see them (the model's where nothing is padded). */
  readonly frames: number;
  readonly tokens: number;
  readonly heads: number;
  /** One entry per padded dimension, in the order frames, tokens, heads; empty when every split is even. */
  readonly summary: readonly PlanPadding[];
}

/**
 * Pads the model's `sizes` to the `parts` each is split into (1: not split). Throws where the Spec did not ask
 * for the padding a split needs.
 */
export function layoutPadding(spec: Spec, sizes: Readonly<Record<Dim, number>>, parts: Readonly<Record<Dim, number>>): LayoutPadding {
  const summary: PlanPadding[] = [];
  const padded = (dim: Dim): number => {
    const from = sizes[dim];
    const to = padTo(from, parts[dim]);
    if (to === from) return from;
    const allowed = dim === "heads" ? spec.parallel?.pad_heads === true : spec.parallel?.pad === true;
    if (!allowed) {
      const flag = dim === "heads" ? "pad_heads" : "pad";
      throw new Error(`${from} ${dim} do not split in ${parts[dim]} and \`parallel.${flag}\` is not set (the checker rejects this)`);
    }
    summary.push({ dim, from, to, parts: parts[dim], wasted: (to - from) / to });
    return to;
  };
  return { frames: padded("frames"), tokens: padded("tokens"), heads: padded("heads"), summary };
}
