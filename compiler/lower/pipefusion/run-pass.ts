/**
 * Runs a family's lowering for one PipeFusion pass into a builder of its own, with the context narrowed to the
 * pass: a band pass sees the band's tokens per frame (its run of them under Ulysses) as the local tokens, so
 * every size the shared pieces derive from the context (rows, sequence lengths, permute views, gathers) is the
 * band's. The pass's buffers and ops are merged into the plan's program afterwards (merge-passes.ts).
 */
import type { Facts } from "../../check/facts.js";
import type { Op } from "../../plan/ops.js";
import type { StepTable } from "../../schedule/step-table.js";
import type { FamilyLowering } from "../families/lowering.js";
import { ProgramBuilder, type DeclaredBuffer } from "../program/builder.js";
import type { LowerContext } from "../program/context.js";
import type { Head } from "../program/ends.js";
import type { PipeFusionPass } from "./pass.js";

export interface PassRun {
  readonly pass: PipeFusionPass;
  /** Prefix of the pass's activation names in the merged program: `warmup.` or `band2.`. */
  readonly prefix: string;
  readonly head: Head;
  readonly buffers: readonly DeclaredBuffer[];
  readonly setup: readonly Op[];
  readonly step: readonly Op[];
  readonly weightsRead: readonly string[];
}

export function runPass(lowering: FamilyLowering, base: LowerContext, facts: Facts, schedule: StepTable, noiseSeed: number, pass: PipeFusionPass): PassRun {
  const parts = pass.band?.count ?? 1;
  if (base.Sl % parts !== 0) throw new Error(`${base.Sl} local tokens per frame do not split into ${parts} bands (the checker requires whole rows)`);
  // Bands are whole token rows, so a split into bands is even and pads no tokens (only heads may be padded).
  if (base.Sp !== base.S || base.Tp !== base.T) throw new Error("PipeFusion's row bands of a padded token layout are not lowered (bands of whole rows split evenly)");
  const b = new ProgramBuilder(base.family.weights(base.hyper), base.dtype);
  const Sl = base.Sl / parts;
  const ctx: LowerContext = { ...base, b, pipefusion: pass, Sl, rows: base.n * base.Tl * Sl };
  const head = lowering(ctx, facts, schedule, noiseSeed);
  const built = b.finish();
  for (const op of built.step) {
    // Attention over the tokens of a frame must go through the K/V buffer, or a band would attend only to itself.
    if (op.op === "self_attention" && !op.kvCache && op.seq !== ctx.T) {
      throw new Error(`${base.family.title}: op ${op.id} attends over the tokens of a frame without a K/V buffer, which PipeFusion needs`);
    }
  }
  return {
    pass,
    prefix: pass.band ? `band${pass.band.index}.` : "warmup.",
    head,
    buffers: built.buffers,
    setup: built.setup,
    step: built.step,
    weightsRead: built.weightsRead,
  };
}
