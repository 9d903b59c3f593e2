/**
 * Latte-1 text-to-video (diffusers `LatteTransformer3DModel`, models.md §3.2) as a step program, shared with
 * Open-Sora-Plan's LatteT2V (opensora-plan.ts, §6), which has the same structure and tensor names. `depth`
 * spatial blocks (transformer_blocks.i) and `depth` temporal blocks (temporal_transformer_blocks.i) run
 * interleaved s0, t0, s1, t1, ... on the residual stream x laid out (samples, frames, tokens):
 *   spatial_i:   x += g1 · Attn(LN(x)·(1 + c1) + s1)    over the tokens of each frame
 *                x += CrossAttn(x, caption)             no norm on the query path, no gate
 *                x += g2 · FF(LN(x)·(1 + c2) + s2)      ff.net.0.proj (GELU-tanh), ff.net.2
 *   before t_0:  x += temp_pos_embed                    emb1d over the frames, into the residual stream
 *   temporal_i:  x += g1 · Attn(LN(x)·(1 + c1) + s1)    over the frames at each token
 *                x += g2 · FF(LN(x)·(1 + c2) + s2)
 * Each block's six rows are its scale_shift_table + t0, with t0 = adaln_single.linear(SiLU(emb_t)) and emb_t
 * the timestep embedding; both block kinds take the same per-sample t0 (the reference repeats it per frame or
 * per token, which only broadcasts). The final layer adds emb_t (not t0) to the top-level [2, D]
 * scale_shift_table: shift, scale, then proj_out. The caption projection (linear_1, GELU-tanh, linear_2) and
 * every block's attn2 keys and values run once in setup.
 */
import type { Facts } from "../../check/facts.js";
import type { StepTable } from "../../schedule/step-table.js";
import {
  addFrameTable,
  adaLNSingle,
  blockModulation,
  crossAttentionBranch,
  gateBranch,
  linear,
  mlpBranch,
  mod,
  normModulate,
  pabBranch,
  residual,
  spatialAttention,
  temporalAttention,
  type BlockRef,
} from "../program/blocks.js";
import type { LowerContext } from "../program/context.js";
import { diffusersCross, diffusersCrossKv, diffusersSelfAttention } from "../program/diffusers-attention.js";
import { featuresPerToken, lowerHead, lowerTail, lowerTextInputs, type Head, type PositionScales } from "../program/ends.js";
import type { FamilyLowering } from "./lowering.js";

/** What differs between the LatteT2V code bases: only the temporal position table. */
export interface LatteT2VTemporalTable {
  /** Positions are frame · scale (Latte-1: 1; Open-Sora-Plan: 1 / its interpolation scale). */
  scale(frames: number): number;
  /** Whether a single-frame run adds it too (Open-Sora-Plan does; diffusers' Latte-1 skips it then). */
  readonly singleFrame: boolean;
}

/** The SD-VAE and CausalVAE that both code bases decode with compress height and width by 8. */
const VAE_SPATIAL = 8;

/**
 * diffusers `PatchEmbed` coordinates (models.md §0.3): idx / (n_axis / base_size) / interpolation_scale, with
 * base_size = sample_size / patch and interpolation_scale = max(sample_size // 64, 1), sample_size being the
 * latent side the checkpoint was trained at. The family's trained size with the run's height and width is that
 * checkpoint's; at any other size the first (the largest released) is taken.
 */
export function diffusersPositionScales(ctx: LowerContext): PositionScales {
  const size = ctx.spec.video;
  const trained = ctx.family.trainedSizes ?? [];
  const match = trained.find((t) => t.height === size?.height && t.width === size?.width) ?? trained[0];
  const sampleSize = Math.floor((match?.height ?? ctx.geometry.latentHeight * VAE_SPATIAL) / VAE_SPATIAL);
  const baseSize = Math.floor(sampleSize / ctx.hyper.patch);
  const interpolation = Math.max(Math.floor(sampleSize / 64), 1);
  const g = ctx.geometry;
  return { rowScale: baseSize / g.tokenRows / interpolation, colScale: baseSize / g.tokenCols / interpolation };
}

/** emb_t = timestep_embedder(sinusoid(t)) of `adaln_single.emb` (diffusers `TimestepEmbedding`): [n, D]. */
function timestepEmbedding(ctx: LowerContext, timestep: string): string {
  const b = ctx.b;
  const prefix = "adaln_single.emb.timestep_embedder";
  const freq = b.temp("t.freq", [ctx.n, 256]);
  // diffusers `Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0)`: the [cos | sin] sinusoid of §0.2.
  b.step({ op: "timestep_embed", t: timestep, out: freq, samples: ctx.n, dim: 256, maxPeriod: 10000 });
  const h = linear(ctx, freq, `${prefix}.linear_1`, b.temp("t.hidden", [ctx.n, ctx.D]), ctx.n, 256, ctx.D, { activation: "silu" });
  return linear(ctx, h, `${prefix}.linear_2`, b.temp("t.emb", [ctx.n, ctx.D]), ctx.n, ctx.D, ctx.D);
}

/** The feed-forward branch: LN-modulate, ff.net.0.proj with GELU-tanh, ff.net.2, gate (MLP broadcast may reuse it). */
function feedForwardBranch(ctx: LowerContext, x: string, prefix: string, m: string, block: BlockRef): string {
  const b = ctx.b;
  const { D, rows } = ctx;
  const hidden = ctx.hyper.mlpHidden;
  const { cached, tags } = mlpBranch(ctx, block);
  const name = `${block.kind}.${block.index}.mlp`;
  const h = normModulate(ctx, x, b.temp(`${name}.in`, [rows, D]), mod(m, 3), mod(m, 4), tags);
  const up = linear(ctx, h, `${prefix}.net.0.proj`, b.temp(`${name}.hidden`, [rows, hidden]), rows, D, hidden, { activation: "gelu_tanh", tags });
  const y = linear(ctx, up, `${prefix}.net.2`, b.temp(`${name}.out`, [rows, D]), rows, hidden, D, { tags });
  return gateBranch(ctx, y, mod(m, 5), name, cached, tags);
}

/** x += g1 · SelfAttn(LN(x)·(1 + c1) + s1) over the block's axis, PAB-tagged with the block's kind. */
function selfAttentionBranch(ctx: LowerContext, x: string, prefix: string, m: string, block: BlockRef): void {
  const b = ctx.b;
  const branch = pabBranch(ctx, block.kind, block);
  const name = `${block.kind}.${block.index}.attn`;
  const h = normModulate(ctx, x, b.temp(`${name}.in`, [ctx.rows, ctx.D]), mod(m, 0), mod(m, 1), branch.tags);
  const weights = diffusersSelfAttention(`${prefix}.attn1`);
  const y = block.kind === "spatial" ? spatialAttention(ctx, h, weights, name, branch.tags) : temporalAttention(ctx, h, weights, name, branch.tags);
  residual(ctx, x, gateBranch(ctx, y, mod(m, 2), name, branch.cached, branch.tags), block);
}

/** The final layer: shift, scale = scale_shift_table [2, D] + emb_t; LN-modulate; proj_out. */
function finalLayer(ctx: LowerContext, x: string, embT: string): string {
  const b = ctx.b;
  const m = b.temp("final.mod", [ctx.n, 2, ctx.D]);
  b.step({
    op: "modulation",
    table: b.weight("scale_shift_table", [2, ctx.D]),
    source: embT,
    out: m,
    samples: ctx.n,
    chunks: 2,
    sourceChunks: 1,
    width: ctx.D,
  });
  const h = normModulate(ctx, x, b.temp("final.in", [ctx.rows, ctx.D]), mod(m, 0), mod(m, 1));
  const F = featuresPerToken(ctx);
  return linear(ctx, h, "proj_out", b.temp("final.out", [ctx.rows, F]), ctx.rows, ctx.D, F);
}

/** The LatteT2V step program with a code base's temporal table. */
export function latteT2VLowering(temporal: LatteT2VTemporalTable): FamilyLowering {
  return (ctx: LowerContext, _facts: Facts, schedule: StepTable, noiseSeed: number): Head => {
    const head = lowerHead(ctx, diffusersPositionScales(ctx), "pos_embed.proj");
    const text = lowerTextInputs(ctx, head, { fc1: "caption_projection.linear_1", fc2: "caption_projection.linear_2", gelu: true });
    const embT = timestepEmbedding(ctx, head.timestep);
    const t0 = adaLNSingle(ctx, embT, "adaln_single.linear");
    const x = head.x;
    for (let i = 0; i < ctx.hyper.depth; i++) {
      const spatial: BlockRef = { kind: "spatial", index: i };
      const sp = `transformer_blocks.${i}`;
      const kv = diffusersCrossKv(ctx, text.caption, `${sp}.attn2`, text.tokens, spatial);
      const ms = blockModulation(ctx, spatial, t0, `${sp}.scale_shift_table`);
      selfAttentionBranch(ctx, x, sp, ms, spatial);
      residual(ctx, x, crossAttentionBranch(ctx, x, diffusersCross(`${sp}.attn2`), kv, text.mask, text.tokens, spatial), spatial);
      residual(ctx, x, feedForwardBranch(ctx, x, `${sp}.ff`, ms, spatial), spatial);

      if (i === 0 && (ctx.T > 1 || temporal.singleFrame)) addFrameTable(ctx, x, temporal.scale(ctx.T));

      const temporalBlock: BlockRef = { kind: "temporal", index: i };
      const tp = `temporal_transformer_blocks.${i}`;
      const mt = blockModulation(ctx, temporalBlock, t0, `${tp}.scale_shift_table`);
      selfAttentionBranch(ctx, x, tp, mt, temporalBlock);
      residual(ctx, x, feedForwardBranch(ctx, x, `${tp}.ff`, mt, temporalBlock), temporalBlock);
    }
    lowerTail(ctx, finalLayer(ctx, x, embT), head, schedule, noiseSeed);
    return head;
  };
}

/** Latte-1: temp_pos_embed = emb1d(D, 0..F-1), added only when there is more than one frame. */
export const lowerLatteT2V: FamilyLowering = latteT2VLowering({ scale: () => 1, singleFrame: false });
