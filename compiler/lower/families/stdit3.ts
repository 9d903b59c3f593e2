/**
 * Open-Sora 1.2 STDiT3 (models.md §5) as a step program. `depth` spatial and `depth` temporal blocks run
 * interleaved s0, t0, s1, t1, ..., each one `STDiT3Block` on the residual stream x laid out (samples, frames,
 * tokens), with its own adaLN-single rows (scale_shift_table + t_mlp):
 *   x += g1 · Attn(LN(x)·(1 + c1) + s1)   spatial: over each frame's tokens; temporal: over the frames at each
 *                                          token. q, k RMSNorm on both kinds; RoPE (after the norm) on temporal only
 *   x += CrossAttn(x, caption)            in both kinds; no norm, no gate
 *   x += g2 · MLP(LN(x)·(1 + c2) + s2)
 * The condition is t = t_embedder(timestep) + fps_embedder(fps). fps is one number for the whole run, so its
 * embedding is computed once in setup from a `constant` op and broadcast onto t every step. Positions are a 2-D
 * sin-cos table only; time enters through RoPE alone (§5.4).
 */
import type { Facts } from "../../check/facts.js";
import type { StepTable } from "../../schedule/step-table.js";
import type { Dtype } from "../../spec/schema.js";
import { roundToDtype } from "../pab-timestep.js";
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
  temporalAttention,
  timestepEmbedding,
  type AttentionWeights,
  type BlockRef,
} from "../program/blocks.js";
import type { LowerContext } from "../program/context.js";
import { lowerHead, lowerTail, lowerTextInputs, t2iFinalLayer, type Head, type PositionScales } from "../program/ends.js";
import type { FamilyLowering } from "./lowering.js";

/** `input_sq_size`: the pixel side the positional scale is relative to. */
const INPUT_SQ_SIZE = 512;
/** The fps Open-Sora feeds for a single frame (`IMG_FPS`), whatever the Spec says. */
const IMAGE_FPS = 120;
/** The fps of the reference sample config when the Spec gives none. */
const DEFAULT_VIDEO_FPS = 24;

/**
 * Coordinates idx / scale · (base_size / n_axis), with scale = sqrt(H_px·W_px) / 512 and base_size =
 * round(sqrt(rows·cols)) over the padded token grid (§5.4). sqrt of an integer is never a half, so Math.round
 * agrees with Python's round.
 */
export function stdit3PositionScales(height: number, width: number, rows: number, cols: number): PositionScales {
  const scale = Math.sqrt(height * width) / INPUT_SQ_SIZE;
  const baseSize = Math.round(Math.sqrt(rows * cols));
  return { rowScale: baseSize / (scale * rows), colScale: baseSize / (scale * cols) };
}

/**
 * The fps value the model sees: `prepare_multi_resolution_info` passes IMG_FPS for one frame, and builds the
 * tensor in the model dtype, so a fractional fps is rounded to it before the sinusoid reads it as fp32.
 */
export function stdit3Fps(frames: number, fps: number | undefined, dtype: Dtype): number {
  return roundToDtype(frames === 1 ? IMAGE_FPS : (fps ?? DEFAULT_VIDEO_FPS), dtype);
}

/**
 * fps_embedder (a SizeEmbedder on the scalar fps: the timestep sinusoid, Linear, SiLU, Linear), computed once in
 * setup for one row; every sample of the batch sees the same fps. Returns the [1, D] table.
 */
function fpsEmbedding(ctx: LowerContext, fps: number): string {
  const b = ctx.b;
  const value = b.buffer("fps", [1], "table", "f32");
  b.setup({ op: "constant", out: value, values: [fps], count: 1 });
  const freq = b.buffer("fps.freq", [1, 256], "table");
  b.setup({ op: "timestep_embed", t: value, out: freq, samples: 1, dim: 256, maxPeriod: 10000 });
  const hidden = linear(ctx, freq, "fps_embedder.mlp.0", b.buffer("fps.hidden", [1, ctx.D], "table"), 1, 256, ctx.D, {
    activation: "silu",
    setup: true,
  });
  return linear(ctx, hidden, "fps_embedder.mlp.2", b.buffer("fps.emb", [1, ctx.D], "table"), 1, ctx.D, ctx.D, { setup: true });
}

/** One STDiT3Block of either kind; the kind picks the attention axis and whether RoPE applies. */
function stdit3Block(ctx: LowerContext, block: BlockRef, x: string, t0: string, caption: string, mask: string, textTokens: number): void {
  const b = ctx.b;
  const { D } = ctx;
  const p = `${block.kind}_blocks.${block.index}`;
  const name = `${block.kind}.${block.index}`;
  const kv = crossKv(ctx, caption, `${p}.cross_attn`, textTokens, block);
  const m = blockModulation(ctx, block, t0, `${p}.scale_shift_table`);

  const weights: AttentionWeights = {
    qkv: `${p}.attn.qkv`,
    proj: `${p}.attn.proj`,
    qNorm: `${p}.attn.q_norm.weight`,
    kNorm: `${p}.attn.k_norm.weight`,
    rope: block.kind === "temporal",
  };
  const branch = pabBranch(ctx, block.kind, block);
  const h = normModulate(ctx, x, b.temp(`${name}.attn.in`, [ctx.rows, D]), mod(m, 0), mod(m, 1), branch.tags);
  const y =
    block.kind === "spatial"
      ? spatialAttention(ctx, h, weights, `${name}.attn`, branch.tags)
      : temporalAttention(ctx, h, weights, `${name}.attn`, branch.tags);
  residual(ctx, x, gateBranch(ctx, y, mod(m, 2), `${name}.attn`, branch.cached, branch.tags), block);

  residual(ctx, x, crossAttentionBranch(ctx, x, pixartCross(`${p}.cross_attn`), kv, mask, textTokens, block), block);
  residual(ctx, x, mlpBranchOutput(ctx, x, `${p}.mlp`, m, [3, 4, 5], block), block);
}

export const lowerStdit3: FamilyLowering = (ctx: LowerContext, facts: Facts, schedule: StepTable, noiseSeed: number): Head => {
  const b = ctx.b;
  const size = facts.size;
  if (!size) throw new Error("STDiT3 lowering needs the pipeline size (the checker guarantees it)");
  const g = ctx.geometry;
  const head = lowerHead(ctx, stdit3PositionScales(size.height, size.width, g.tokenRows, g.tokenCols));
  const text = lowerTextInputs(ctx, head, { fc1: "y_embedder.y_proj.fc1", fc2: "y_embedder.y_proj.fc2", gelu: true });
  const fps = fpsEmbedding(ctx, stdit3Fps(size.frames, ctx.spec.video?.fps, ctx.spec.model.dtype ?? "bf16"));

  const t = timestepEmbedding(ctx, head.timestep);
  b.step({ op: "add_rows", x: t, table: fps, out: t, rows: ctx.n, width: ctx.D, period: 1, repeat: 1 });
  const t0 = adaLNSingle(ctx, t);
  for (let i = 0; i < ctx.hyper.depth; i++) {
    stdit3Block(ctx, { kind: "spatial", index: i }, head.x, t0, text.caption, text.mask, text.tokens);
    stdit3Block(ctx, { kind: "temporal", index: i }, head.x, t0, text.caption, text.mask, text.tokens);
  }
  lowerTail(ctx, t2iFinalLayer(ctx, head.x, t), head, schedule, noiseSeed);
  return head;
};
