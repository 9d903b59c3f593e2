/**
 * all_to_all (compiler/plan/ops.ts AllToAllOp) over one group of R ranks, in float64: every rank views its `x`
 * as `dims` [d0, d1, d2, d3]; dimension `scatter` splits into R equal parts, part i going to the group's i-th
 * rank; each rank concatenates the parts it receives, in group order, along `gather`. So the i-th rank's `out`,
 * viewed as dims with d[scatter] / R and d[gather] · R (row-major), holds at gather index j·d[gather] + g the
 * j-th rank's x at gather index g and scatter index i·d[scatter]/R + (its own scatter index). Every input is
 * read before any output is written, so `out` may be another rank's (or its own) `x`.
 */
import type { AllToAllOp } from "../../../compiler/plan/ops.js";
import { describeOp } from "../dispatch.js";
import { requireSplit, viewBuffer, viewSize, type Collective } from "./collective.js";

export const runAllToAll: Collective<AllToAllOp> = (op, members) => {
  const R = members.length;
  const { dims, scatter, gather } = op;
  if (scatter === gather) throw new Error(`${describeOp(op)}: scatter and gather are both dimension ${scatter}`);
  requireSplit(op, dims[scatter]!, R, `scatter dimension ${scatter} of`);
  const count = viewSize(dims);
  const sent = members.map((m) => viewBuffer(op, m, op.x, count).slice(0, count));
  const outDims = [...dims];
  outDims[scatter] = dims[scatter]! / R;
  outDims[gather] = dims[gather]! * R;
  const inStrides = [dims[1]! * dims[2]! * dims[3]!, dims[2]! * dims[3]!, dims[3]!, 1];
  members.forEach((mem, i) => {
    const out = viewBuffer(op, mem, op.out, count);
    const at = [0, 0, 0, 0];
    for (let o = 0; o < count; o++) {
      // at: the output index; the source rank and index follow from the gather and scatter coordinates.
      const from = Math.floor(at[gather]! / dims[gather]!);
      let src = 0;
      for (let a = 0; a < 4; a++) {
        let c = at[a]!;
        if (a === gather) c -= from * dims[gather]!;
        if (a === scatter) c += i * outDims[scatter]!;
        src += c * inStrides[a]!;
      }
      out[o] = sent[from]![src]!;
      for (let a = 3; a >= 0; a--) {
        at[a] = at[a]! + 1;
        if (at[a]! < outDims[a]!) break;
        at[a] = 0;
      }
    }
  });
};
