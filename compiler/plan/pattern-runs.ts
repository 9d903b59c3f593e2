/**
 * Which ops a step runs, from the step's pattern: one rule shared by the cost model, the plan summary, the
 * transfer matcher and the reference interpreter.
 */
import type { Op } from "./ops.js";
import type { PlanPattern } from "./types.js";

/** Whether a step of this pattern skips the op: PAB reuses its attention kind, or MLP broadcast its block's MLP. */
export function skippedBy(op: Op, pattern: PlanPattern): boolean {
  if (op.pab !== undefined && pattern.reuse.includes(op.pab)) return true;
  return op.mlp === true && op.block !== undefined && pattern.mlpReuse.includes(`${op.blockKind}:${op.block}`);
}

/**
 * Whether a step of this pattern runs the op at all, reuse aside: a PipeFusion op of another phase does not,
 * nor a latent-ring send or receive on a step that hands no latent on.
 */
export function inPhase(op: Op, pattern: PlanPattern): boolean {
  if (op.phase !== undefined && op.phase !== pattern.phase) return false;
  if (op.latentRing && op.op === "send") return pattern.latentOut === true;
  if (op.latentRing && op.op === "recv") return pattern.latentIn === true;
  return true;
}

/** Whether a step of this pattern runs the op: in its phase and not reused. */
export function runsIn(op: Op, pattern: PlanPattern): boolean {
  return inPhase(op, pattern) && !skippedBy(op, pattern);
}
