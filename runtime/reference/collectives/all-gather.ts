/**
 * all_gather (compiler/plan/ops.ts AllGatherOp) over one group of R ranks, in float64: every rank views its `x`
 * as `dims`, and every rank's `out`, viewed as dims with d[dim] · R (row-major), is the ranks' views concatenated
 * along `dim` in group order: out at index j·d[dim] + c along `dim` is the j-th rank's x at c. Every input is read
 * before any output is written, so `out` may alias an input.
 */
import type { AllGatherOp } from "../../../compiler/plan/ops.js";
import { viewBuffer, viewSize, type Collective } from "./collective.js";

export const runAllGather: Collective<AllGatherOp> = (op, members) => {
  const R = members.length;
  const { dims, dim } = op;
  const count = viewSize(dims);
  const parts = members.map((m) => viewBuffer(op, m, op.x, count).slice(0, count));
  // Row-major: a run of `inner` values (dims after `dim`, and the whole extent of `dim`) repeats `outer` times.
  const inner = viewSize(dims.slice(dim + 1)) * dims[dim]!;
  const outer = count / inner;
  for (const mem of members) {
    const out = viewBuffer(op, mem, op.out, count * R);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < R; j++) out.set(parts[j]!.subarray(o * inner, (o + 1) * inner), (o * R + j) * inner);
    }
  }
};
