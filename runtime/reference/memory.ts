/**
 * The memory of one simulated rank: every plan buffer as its own typed array (float64 for floating buffers, so
 * the reference accumulates in double precision whatever dtype the plan stores; int32 for i32 buffers), and the
 * weights by checkpoint name. The reference interpreter never shares arena space: it checks semantics, not the
 * memory plan.
 */
import type { Plan, PlanBuffer } from "../../compiler/plan/types.js";

export type Values = Float64Array | Int32Array;

export interface RankCoordinates {
  /** The rank's coordinate on every mesh axis (all 0 for one rank). */
  readonly coords: Readonly<Record<string, number>>;
}

export interface Memory {
  readonly plan: Plan;
  readonly rank: RankCoordinates;
  /** Buffers by plan buffer name. */
  readonly buffers: ReadonlyMap<string, Values>;
  /** Checkpoint tensors by official name, as float64. */
  readonly weights: ReadonlyMap<string, Float64Array>;
  /** The index of the step being run (for solver coefficients and noise). */
  step: number;
}

/** A buffer or weight by name, as float64; a missing name is a plan or loader defect. */
export function f64(mem: Memory, name: string): Float64Array {
  const b = mem.buffers.get(name) ?? mem.weights.get(name);
  if (!b) throw new Error(`no buffer or weight named ${name}`);
  if (!(b instanceof Float64Array)) throw new Error(`${name} is an integer buffer where a float one is needed`);
  return b;
}

export function i32(mem: Memory, name: string): Int32Array {
  const b = mem.buffers.get(name);
  if (!(b instanceof Int32Array)) throw new Error(`${name} is not an i32 buffer`);
  return b;
}

export function elementCount(b: Pick<PlanBuffer, "shape">): number {
  return b.shape.reduce((a, d) => a * d, 1);
}

export function allocate(plan: Plan, weights: ReadonlyMap<string, Float64Array>, rank: RankCoordinates): Memory {
  const buffers = new Map<string, Values>();
  for (const b of plan.buffers) buffers.set(b.name, b.dtype === "i32" ? new Int32Array(elementCount(b)) : new Float64Array(elementCount(b)));
  return { plan, rank, buffers, weights, step: 0 };
}
