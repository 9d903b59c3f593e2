/**
 * The time and memory estimate of a plan's VAE decode on one rank (plan.decode.cost), priced like the step
 * program (ops-cost.ts for each op, plan-cost.ts's roofline and link model for its seconds): one pass of the
 * decode program summed op by op without overlap, communication included, then times the passes and samples a
 * rank decodes. The peak is the decode's own arena plus the decoder's weights: the runtime releases the DiT's
 * memory before it decodes, so a rank's peak is the larger of the two phases, not their sum.
 */
import type { GpuProfile } from "../hardware/gpus.js";
import type { Mesh } from "../lower/mesh.js";
import { DTYPE_BYTES } from "../plan/memory.js";
import type { DecodeCost, PlanDecode } from "../plan/types.js";
import { costContext, opCost } from "./ops-cost.js";
import { opSeconds } from "./plan-cost.js";

/** Bytes of the decoder's weights on a rank. */
export function decodeWeightBytes(decode: Pick<PlanDecode, "weights">): number {
  return decode.weights.reduce((sum, w) => sum + w.shape.reduce((a, d) => a * d, 1) * DTYPE_BYTES[w.dtype], 0);
}

export function decodeCost(decode: Omit<PlanDecode, "cost">, mesh: Mesh, gpu: GpuProfile): DecodeCost {
  const ctx = costContext({ buffers: decode.buffers, weights: decode.weights, mesh });
  let flops = 0;
  let seconds = 0;
  for (const op of decode.program) {
    const cost = opCost(op, ctx);
    const time = opSeconds(cost, gpu);
    flops += cost.flops;
    seconds += time.compute + time.comm;
  }
  return {
    flopsPerPass: flops,
    secondsPerPass: seconds,
    totalSeconds: seconds * decode.passes * decode.samples,
    peakBytesPerRank: decode.arenaBytes + decodeWeightBytes(decode),
  };
}
