/**
 * `permute` (compiler/plan/ops.ts, PermuteOp): a copy of x, viewed as the 4-D row-major `dims`, with its axes
 * permuted: out axis i is input axis perm[i], so out has dims [dims[perm[0]], ..., dims[perm[3]]] and
 * out[i0, i1, i2, i3] = x[j] with j[perm[i]] = i_i (`(B T S) D` into `(B S T) D` and back). out must not be x.
 */
import type { PermuteOp } from "../../../compiler/plan/ops.js";
import { f64 } from "../memory.js";
import type { OpRunner } from "../op-runner.js";

export const runPermute: OpRunner<PermuteOp> = (op, mem) => {
  const where = `op ${op.id} (permute)`;
  const { dims, perm } = op;
  if ([...perm].sort().join() !== "0,1,2,3") throw new Error(`${where}: perm [${perm.join(", ")}] is not a permutation of the 4 axes`);
  if (op.x === op.out) throw new Error(`${where}: cannot permute \`${op.x}\` in place`);
  const x = f64(mem, op.x);
  const out = f64(mem, op.out);
  const total = dims[0] * dims[1] * dims[2] * dims[3];
  if (x.length < total || out.length < total) {
    throw new Error(`${where}: the ${total} values of [${dims.join(", ")}] do not fit x \`${op.x}\` (${x.length}) and out \`${op.out}\` (${out.length})`);
  }
  // Row-major strides of the input, then the input stride of each output axis.
  const inStride = [dims[1] * dims[2] * dims[3], dims[2] * dims[3], dims[3], 1];
  const [s0, s1, s2, s3] = perm.map((p) => inStride[p]!) as [number, number, number, number];
  const [n0, n1, n2, n3] = perm.map((p) => dims[p]) as [number, number, number, number];
  let o = 0;
  for (let a = 0; a < n0; a++)
    for (let b = 0; b < n1; b++)
      for (let c = 0; c < n2; c++)
        for (let d = 0; d < n3; d++) out[o++] = x[a * s0 + b * s1 + c * s2 + d * s3]!;
};
