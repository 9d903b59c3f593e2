/**
 * Ring self-attention (compiler/plan/ops.ts SelfAttentionOp with `ring`) over one ring group of R ranks, in
 * float64. Each rank holds chunk r (its ring coordinate, the group order) of every one of the `batch`
 * sequences: `seq` tokens of packed qkv rows. The result is the value that K/V travelling the ring with a
 * log-sum-exp merge of the partial results computes (up to that merge's rounding): each rank's queries attending
 * over the whole sequence of seq·R tokens in ring order, keys at or past `validKeys` (counted over that whole sequence, so chunk r's keys sit at r·seq + i)
 * getting no weight. It is computed as that: the group's chunks are gathered in ring order into one sequence,
 * the one-rank self_attention (../ops/self-attention.ts: norms, rotary positions 0..seq·R−1, masking) runs on
 * it once, and each rank takes back the output rows of its own chunk.
 */
import type { SelfAttentionOp } from "../../../compiler/plan/ops.js";
import { describeOp } from "../dispatch.js";
import type { Memory } from "../memory.js";
import { runSelfAttention } from "../ops/self-attention.js";
import { viewBuffer, type Collective } from "./collective.js";

/** The names of the gathered sequence's buffers in the scratch memory the one-rank op runs on. */
const WHOLE_QKV = "ring.qkv";
const WHOLE_OUT = "ring.out";

export const runRingAttention: Collective<SelfAttentionOp> = (op, members) => {
  const { ring, ...local } = op;
  if (ring === undefined) throw new Error(`${describeOp(op)}: not a ring attention`);
  const first = members[0];
  if (!first) throw new Error(`${describeOp(op)}: the ${ring} group has no ranks`);
  const R = members.length;
  const { batch, seq } = op;
  const width = op.heads * op.headDim;
  const qkvRow = 3 * width;
  const whole = new Float64Array(batch * seq * R * qkvRow);
  members.forEach((mem, r) => {
    const qkv = viewBuffer(op, mem, op.qkv, batch * seq * qkvRow);
    for (let b = 0; b < batch; b++) {
      whole.set(qkv.subarray(b * seq * qkvRow, (b + 1) * seq * qkvRow), (b * R + r) * seq * qkvRow);
    }
  });
  const out = new Float64Array(batch * seq * R * width);
  const scratch: Memory = {
    plan: first.plan,
    rank: first.rank,
    buffers: new Map([
      [WHOLE_QKV, whole],
      [WHOLE_OUT, out],
    ]),
    weights: first.weights,
    step: first.step,
  };
  runSelfAttention({ ...local, qkv: WHOLE_QKV, out: WHOLE_OUT, seq: seq * R }, scratch);
  members.forEach((mem, r) => {
    const mine = viewBuffer(op, mem, op.out, batch * seq * width);
    for (let b = 0; b < batch; b++) {
      mine.set(out.subarray((b * R + r) * seq * width, (b * R + r + 1) * seq * width), b * seq * width);
    }
  });
};
