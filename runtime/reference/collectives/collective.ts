/**
 * What a collective of the all-ranks simulation (../ranks.ts) is: a function of the op and the memories of one
 * communicator group's ranks, in group order (compiler/lower/mesh.ts: ascending rank, which is the order of the
 * axis coordinate), that reads every member's input and writes every member's output. Also the two checks the
 * collectives share: a buffer holds the 4-D view an op declares, and a view splits evenly over the group.
 */
import type { Op } from "../../../compiler/plan/ops.js";
import { describeOp } from "../dispatch.js";
import { f64, type Memory } from "../memory.js";

export type Collective<O extends Op = Op> = (op: O, members: readonly Memory[]) => void;

/** The element count of a 4-D view. */
export function viewSize(dims: readonly number[]): number {
  return dims.reduce((a, d) => a * d, 1);
}

/** The float buffer `name` of a member, checked to hold at least `count` values. */
export function viewBuffer(op: Op, mem: Memory, name: string, count: number): Float64Array {
  const values = f64(mem, name);
  if (values.length < count) throw new Error(`${describeOp(op)}: \`${name}\` holds ${values.length} values, fewer than the ${count} of its view`);
  return values;
}

/** Checks that `extent` splits into `parts` equal parts. */
export function requireSplit(op: Op, extent: number, parts: number, what: string): void {
  if (extent % parts !== 0) throw new Error(`${describeOp(op)}: ${what} ${extent} does not split into the group's ${parts} parts`);
}
