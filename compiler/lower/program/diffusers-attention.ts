/**
 * diffusers `Attention` (Latte-1, Open-Sora-Plan; models.md §3.2) on top of the shared pieces: separate to_q,
 * to_k, to_v Linears [D, D] with biases and the output projection `to_out.0`. Self-attention hands the three
 * Linears to blocks.ts as a split qkv, so its collectives stay where every family's are; cross-attention, which
 * is token-wise and never communicates, writes its k and v into one packed [n·L, 2D] buffer in setup (k at
 * column 0, v at D), the layout the cross_attention op reads.
 */
import { linear, type AttentionWeights, type BlockRef, type CrossWeights } from "./blocks.js";
import type { LowerContext } from "./context.js";

/** The weights of a diffusers self-attention `prefix` (such as `transformer_blocks.3.attn1`). */
export function diffusersSelfAttention(prefix: string): AttentionWeights {
  return { qkv: { q: `${prefix}.to_q`, k: `${prefix}.to_k`, v: `${prefix}.to_v` }, proj: `${prefix}.to_out.0` };
}

function blockName(block: BlockRef): string {
  return `${block.kind}.${block.index}`;
}

/**
 * The text keys and values of one block's cross-attention `prefix` (attn2), computed once in setup from the
 * projected caption [n·L, D]: to_k into columns [0, D), to_v into [D, 2D) of a [n·L, 2D] table.
 */
export function diffusersCrossKv(ctx: LowerContext, caption: string, prefix: string, textTokens: number, block: BlockRef): string {
  const rows = ctx.n * textTokens;
  const D = ctx.D;
  const out = ctx.b.buffer(`${blockName(block)}.cross.kv`, [rows, 2 * D], "table");
  linear(ctx, caption, `${prefix}.to_k`, out, rows, D, D, { setup: true, outColumns: { offset: 0, stride: 2 * D } });
  linear(ctx, caption, `${prefix}.to_v`, out, rows, D, D, { setup: true, outColumns: { offset: D, stride: 2 * D } });
  return out;
}

/**
 * The weights of a diffusers `BasicTransformerBlock`'s cross-attention (`attn2.to_q`, `attn2.to_out.0`): its
 * query is the residual stream itself (no norm) and its output is not gated, as blocks.ts's branch does.
 */
export function diffusersCross(prefix: string): CrossWeights {
  return { q: `${prefix}.to_q`, proj: `${prefix}.to_out.0` };
}
