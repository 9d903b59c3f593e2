/**
 * The original Latte (Vchitect/Latte `models/latte.py`, models.md §3.1) as a step program. One list of 2·depth
 * DiT blocks alternates spatial (even index) and temporal (odd index) attention on the residual stream x laid
 * out (samples, frames, tokens); every block has its own adaLN-Zero modulation of the condition c:
 *   c = t_emb (+ y_emb, the class embedding, on UCF101; the unconditional checkpoints have none)
 *   blocks.2k:    x += g1 · Attn(LN(x)·(1 + c1) + s1)   over the tokens of each frame
 *                 x += g2 · MLP(LN(x)·(1 + c2) + s2)
 *   k = 0 only:   x += temp_embed                      emb1d(D, 0..F-1), into the residual stream
 *   blocks.2k+1:  the same, attention over the frames at each token
 *   with [s1, c1, g1, s2, c2, g2] = blocks.i.adaLN_modulation.1(SiLU(c)), and the DiT final layer
 *   shift, scale = final_layer.adaLN_modulation.1(SiLU(c)), LN-modulate, final_layer.linear.
 * The reference repeats c per frame (spatial) or per token (temporal); per sample it is one vector, which the
 * plan's per-sample modulation broadcasts. The adaLN-Zero pieces (labels, condition, rows, final layer) are
 * DiT's (program/adaln-zero.ts). The stored `pos_embed` and `temp_embed` are recomputed (integer coordinates,
 * §0.3), so the loader skips them.
 *
 * Latent layout: the reference's latents are [B, F, C, H, W] (frames before channels); the plan keeps the one
 * layout every family shares, [B, C, T, H, W]. The model works per frame (Conv2d patches, tokens ordered
 * (t, h, w), unpatchify per frame) and the sampler is elementwise, so only the input and output tensors differ:
 * a reference comparison transposes dimensions 1 and 2 of the initial noise it feeds and of the latents it
 * compares (reference[b, f, c] = plan[b, c, f]); every token and every intermediate agrees as is.
 */
import type { Facts } from "../../check/facts.js";
import type { StepTable } from "../../schedule/step-table.js";
import {
  addFrameTable,
  gateBranch,
  mlpBranchOutput,
  mod,
  normModulate,
  pabBranch,
  residual,
  spatialAttention,
  temporalAttention,
  timestepEmbedding,
  type BlockRef,
} from "../program/blocks.js";
import { adaLNZeroModulation, classConditionSilu, ditFinalLayer, lowerLabelInputs } from "../program/adaln-zero.js";
import type { LowerContext } from "../program/context.js";
import { lowerHead, lowerTail, type Head } from "../program/ends.js";
import type { FamilyLowering } from "./lowering.js";

/** One DiT block of the alternating list: its own adaLN-Zero rows, attention over the block's axis, MLP. */
function ditBlock(ctx: LowerContext, x: string, cSilu: string, index: number, block: BlockRef): void {
  const b = ctx.b;
  const prefix = `blocks.${index}`;
  const name = `${block.kind}.${block.index}`;
  const m = adaLNZeroModulation(ctx, block, cSilu, `${prefix}.adaLN_modulation.1`);
  const attention = pabBranch(ctx, block.kind, block);
  const h = normModulate(ctx, x, b.temp(`${name}.attn.in`, [ctx.rows, ctx.D]), mod(m, 0), mod(m, 1), attention.tags);
  const weights = { qkv: `${prefix}.attn.qkv`, proj: `${prefix}.attn.proj` };
  const y =
    block.kind === "spatial"
      ? spatialAttention(ctx, h, weights, `${name}.attn`, attention.tags)
      : temporalAttention(ctx, h, weights, `${name}.attn`, attention.tags);
  residual(ctx, x, gateBranch(ctx, y, mod(m, 2), `${name}.attn`, attention.cached, attention.tags), block);
  residual(ctx, x, mlpBranchOutput(ctx, x, `${prefix}.mlp`, m, [3, 4, 5], block), block);
}

/**
 * SiLU(c): c = t_emb + y_emb with a class checkpoint, else t_emb. A class checkpoint run without labels gets
 * the null class for every sample, the condition it was trained to read as "no label" (label dropout, §11.3).
 */
function conditionSilu(ctx: LowerContext, head: Head, t: string): string {
  if (ctx.hyper.numClasses === 0) {
    const act = ctx.b.temp("c.silu", [ctx.n, ctx.D]);
    ctx.b.step({ op: "silu", x: t, out: act, count: ctx.n * ctx.D });
    return act;
  }
  const labels = lowerLabelInputs(ctx, head);
  if (ctx.spec.conditioning?.labels === undefined) {
    head.inputs.forEach((input, i) => {
      if (input.buffer === labels && input.source === "labels") head.inputs[i] = { ...input, source: "null-labels" };
    });
  }
  return classConditionSilu(ctx, t, labels);
}

export const lowerLatte: FamilyLowering = (ctx: LowerContext, _facts: Facts, schedule: StepTable, noiseSeed: number): Head => {
  // timm PatchEmbed per frame (Conv2d) with DiT's integer-coordinate 2-D table.
  const head = lowerHead(ctx, { rowScale: 1, colScale: 1 }, "x_embedder.proj", "2d");
  const cSilu = conditionSilu(ctx, head, timestepEmbedding(ctx, head.timestep));
  for (let k = 0; k < ctx.hyper.depth; k++) {
    ditBlock(ctx, head.x, cSilu, 2 * k, { kind: "spatial", index: k });
    if (k === 0) addFrameTable(ctx, head.x, 1);
    ditBlock(ctx, head.x, cSilu, 2 * k + 1, { kind: "temporal", index: k });
  }
  lowerTail(ctx, ditFinalLayer(ctx, head.x, cSilu), head, schedule, noiseSeed);
  return head;
};
