/**
 * Which buffers an op reads and which it writes, from one table, so the memory planner, the plan checker and
 * the cost model agree. Weights are reads too (their names are checkpoint keys, not arena buffers).
 */
import type { ModRef, Op } from "./ops.js";

export interface OpBuffers {
  readonly reads: readonly string[];
  readonly writes: readonly string[];
}

function mod(ref: ModRef | undefined): string[] {
  return ref ? [ref.buffer] : [];
}

function opt(name: string | undefined): string[] {
  return name === undefined ? [] : [name];
}

export function opBuffers(op: Op): OpBuffers {
  switch (op.op) {
    case "timestep_embed":
      return { reads: [op.t], writes: [op.out] };
    case "linear":
      return { reads: [op.x, op.weight, ...opt(op.bias)], writes: [op.out] };
    case "silu":
      return { reads: [op.x], writes: [op.out] };
    case "add":
      return { reads: [op.a, op.b], writes: [op.out] };
    case "embedding":
      return { reads: [op.table, op.ids], writes: [op.out] };
    case "patch_embed":
      return { reads: [op.x, op.weight, op.bias], writes: [op.out] };
    case "sincos_2d":
    case "sincos_1d":
    case "constant":
      return { reads: [], writes: [op.out] };
    case "concat":
      return { reads: [...op.parts], writes: [op.out] };
    case "add_rows":
      return { reads: [op.x, op.table], writes: [op.out] };
    case "modulation":
      return { reads: [...opt(op.table), op.source], writes: [op.out] };
    case "layernorm_modulate":
      return { reads: [op.x, ...mod(op.shift), ...mod(op.scale)], writes: [op.out] };
    case "gate":
      return { reads: [op.x, op.gate.buffer], writes: [op.out] };
    case "permute":
      return { reads: [op.x], writes: [op.out] };
    case "self_attention":
      return {
        reads: [op.qkv, ...opt(op.qNorm?.weight), ...opt(op.kNorm?.weight), ...opt(op.kvCache?.buffer)],
        writes: [op.out, ...opt(op.kvCache?.buffer)],
      };
    case "cross_attention":
      return { reads: [op.q, op.kv, ...opt(op.mask)], writes: [op.out] };
    case "unpatchify":
      return { reads: [op.x], writes: [op.out] };
    case "all_to_all":
    case "all_gather":
      return { reads: [op.x], writes: [op.out] };
    case "guidance":
      return { reads: [op.x], writes: [op.out] };
    case "send":
      return { reads: [op.x], writes: [] };
    case "recv":
      return { reads: [], writes: [op.out] };
    case "conv2d":
      return { reads: [op.x, op.weight, ...opt(op.bias)], writes: [op.out] };
    case "group_norm":
      return { reads: [op.x, op.weight, op.bias], writes: [op.out] };
    case "upsample_nearest":
      return { reads: [op.x], writes: [op.out] };
    case "solver_update":
      return {
        reads: [op.latent, op.prediction, ...opt(op.history)],
        writes: [op.latent, ...opt(op.history)],
      };
  }
}
