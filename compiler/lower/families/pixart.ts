/**
 * PixArt-α (models.md §2) as a step program. Each `PixArtBlock` runs on the residual stream x (the image's
 * tokens) with adaLN-single rows (scale_shift_table + t0):
 *   x += g1 · Attn(LN(x)·(1 + c1) + s1)     over all tokens of the image
 *   x += CrossAttn(x, caption)              no norm, no gate
 *   x += g2 · MLP(LN(x)·(1 + c2) + s2)
 * then the T2I final layer on the raw condition t (not t0). PixArt-MS (the 1024 checkpoint) adds to t, before
 * t_block and the final layer read it, concat(csize_embedder([H, W]), ar_embedder([H/W])) (§2.3). Those inputs
 * are the same for every sample and step, so their embedding is computed once in setup, from `constant` ops,
 * joined by a `concat` op into one [1, D] row that every step adds onto t.
 */
import type { Facts } from "../../check/facts.js";
import type { StepTable } from "../../schedule/step-table.js";
import {
  adaLNSingle,
  blockModulation,
  crossAttentionBranch,
  pixartCross,
  crossKv,
  gateBranch,
  linear,
  mlpBranchOutput,
  mod,
  normModulate,
  pabBranch,
  residual,
  spatialAttention,
  timestepEmbedding,
  type BlockRef,
} from "../program/blocks.js";
import type { LowerContext } from "../program/context.js";
import { lowerHead, lowerTail, lowerTextInputs, t2iFinalLayer, type Head, type PositionScales } from "../program/ends.js";
import type { FamilyLowering } from "./lowering.js";

/** Pixel sides of the released class-`PixArt` checkpoints (PixArt-XL-2-256x256, -512x512). */
const PIXART_TRAINED_SIDES = [256, 512] as const;
/** PixArt-MS was trained at 1024² (PixArt-XL-2-1024-MS). */
const PIXART_MS_TRAINED_SIDE = 1024;

/**
 * PixArt's coordinates idx / (n_axis / base_size) / lewei_scale (`get_2d_sincos_pos_embed`, models.md §0.3).
 * base_size is the checkpoint's training grid, input_size // patch with input_size = side / 8; lewei_scale is 2
 * for the 1024-MS checkpoint and 1 for the 256 and 512 ones (`scripts/inference.py`). Which checkpoint a size
 * runs on: MS models (those with size embedders) are the 1024 one; other PixArt models take the training side
 * nearest to sqrt(H·W) on a log scale (256 up to about 362², 512 above), the checkpoint a user would load for it.
 * At the training size the coordinates are the integer indices (256, 512) or half of them (1024-MS).
 */
export function pixartPositionScales(
  sizeEmbedders: boolean,
  patch: number,
  size: { readonly height: number; readonly width: number },
  grid: { readonly rows: number; readonly cols: number },
): PositionScales {
  const side = Math.sqrt(size.height * size.width);
  const trained = sizeEmbedders
    ? PIXART_MS_TRAINED_SIDE
    : PIXART_TRAINED_SIDES.reduce((best, s) => (Math.abs(Math.log(side / s)) < Math.abs(Math.log(side / best)) ? s : best));
  const baseSize = Math.floor(trained / 8 / patch);
  const leweiScale = sizeEmbedders ? 2 : 1;
  return { rowScale: baseSize / grid.rows / leweiScale, colScale: baseSize / grid.cols / leweiScale };
}

/**
 * The scalars PixArt-MS's size embedders read: img_hw = [H, W] in pixels and aspect_ratio = the key of the
 * ASPECT_RATIO_1024_TEST bucket, which for every bucket is H/W rounded to two decimals (768x1344 -> 0.57;
 * `prepare_prompt_ar` passes `float(closest_ratio)`); both are float32 tensors in the reference.
 */
export function pixartSizeInputs(height: number, width: number): { hw: [number, number]; ar: number } {
  return { hw: [height, width], ar: Math.round((height / width) * 100) / 100 };
}

/** One SizeEmbedder over `values` scalars from a `constant` op: sinusoid, Linear, SiLU, Linear -> [count, d]. */
function sizeEmbedder(ctx: LowerContext, prefix: string, name: string, values: readonly number[], d: number): string {
  const b = ctx.b;
  const count = values.length;
  const input = b.buffer(name, [count], "table", "f32");
  b.setup({ op: "constant", out: input, values, count });
  const freq = b.buffer(`${name}.freq`, [count, 256], "table");
  b.setup({ op: "timestep_embed", t: input, out: freq, samples: count, dim: 256, maxPeriod: 10000 });
  const hidden = linear(ctx, freq, `${prefix}.mlp.0`, b.buffer(`${name}.hidden`, [count, d], "table"), count, 256, d, { activation: "silu", setup: true });
  return linear(ctx, hidden, `${prefix}.mlp.2`, b.buffer(`${name}.emb`, [count, d], "table"), count, d, d, { setup: true });
}

/**
 * PixArt-MS's size embedding, one [1, D] row: csize's two [d] embeddings (of H, then W) side by side, then
 * ar's, with d = D/3 (SizeEmbedder's `(b k) d -> b (k d)` then `torch.cat([csize, ar], dim=1)`).
 */
function sizeEmbedding(ctx: LowerContext, height: number, width: number): string {
  const { D } = ctx;
  if (D % 3 !== 0) throw new Error(`PixArt-MS size embedders need a hidden size divisible by 3, not ${D}`);
  const d = D / 3;
  const { hw, ar } = pixartSizeInputs(height, width);
  const csize = sizeEmbedder(ctx, "csize_embedder", "size.hw", hw, d);
  const aspect = sizeEmbedder(ctx, "ar_embedder", "size.ar", [ar], d);
  const out = ctx.b.buffer("size.emb", [1, D], "table");
  ctx.b.setup({ op: "concat", parts: [csize, aspect], widths: [2 * d, d], out, rows: 1 });
  return out;
}

export const lowerPixart: FamilyLowering = (ctx: LowerContext, facts: Facts, schedule: StepTable, noiseSeed: number): Head => {
  const b = ctx.b;
  const { D } = ctx;
  const size = facts.size;
  if (!size) throw new Error("PixArt lowering needs the image size (the checker guarantees it)");
  const g = ctx.geometry;
  const head = lowerHead(ctx, pixartPositionScales(ctx.hyper.sizeEmbedders, ctx.hyper.patch, size, { rows: g.tokenRows, cols: g.tokenCols }));
  const text = lowerTextInputs(ctx, head, { fc1: "y_embedder.y_proj.fc1", fc2: "y_embedder.y_proj.fc2", gelu: true });

  const t = timestepEmbedding(ctx, head.timestep);
  if (ctx.hyper.sizeEmbedders) {
    const sizeEmb = sizeEmbedding(ctx, size.height, size.width);
    b.step({ op: "add_rows", x: t, table: sizeEmb, out: t, rows: ctx.n, width: D, period: 1, repeat: 1 });
  }
  const t0 = adaLNSingle(ctx, t);
  for (let i = 0; i < ctx.hyper.depth; i++) {
    const block: BlockRef = { kind: "spatial", index: i };
    const p = `blocks.${i}`;
    const kv = crossKv(ctx, text.caption, `${p}.cross_attn`, text.tokens, block);
    const m = blockModulation(ctx, block, t0, `${p}.scale_shift_table`);

    const spatial = pabBranch(ctx, "spatial", block);
    const h = normModulate(ctx, head.x, b.temp(`spatial.${i}.in`, [ctx.rows, D]), mod(m, 0), mod(m, 1), spatial.tags);
    const sa = spatialAttention(ctx, h, { qkv: `${p}.attn.qkv`, proj: `${p}.attn.proj` }, `spatial.${i}.attn`, spatial.tags);
    residual(ctx, head.x, gateBranch(ctx, sa, mod(m, 2), `spatial.${i}.attn`, spatial.cached, spatial.tags), block);

    residual(ctx, head.x, crossAttentionBranch(ctx, head.x, pixartCross(`${p}.cross_attn`), kv, text.mask, text.tokens, block), block);
    residual(ctx, head.x, mlpBranchOutput(ctx, head.x, `${p}.mlp`, m, [3, 4, 5], block), block);
  }
  lowerTail(ctx, t2iFinalLayer(ctx, head.x, t), head, schedule, noiseSeed);
  return head;
};
