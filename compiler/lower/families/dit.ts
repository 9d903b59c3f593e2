/**
 * DiT (facebookresearch/DiT, models.md §1) as a step program. The condition c = t_embedder(t) +
 * y_embedder.embedding_table[label] drives every block through its own adaLN-Zero Linear on SiLU(c):
 *   x += g1 · Attn(LN(x)·(1 + c1) + s1)     over all tokens of the image
 *   x += g2 · MLP(LN(x)·(1 + c2) + s2)
 * then the DiT final layer (shift, scale = Linear(SiLU(c)), shift first). Positions are the 2-D sin-cos table at
 * integer coordinates; there is no text. Guidance (the tail) mixes the channels schedule/guidance.ts decides: on
 * the IDDPM path the first 3, keeping the conditional half's learned variance.
 */
import type { Facts } from "../../check/facts.js";
import type { StepTable } from "../../schedule/step-table.js";
import { adaLNZeroModulation, classConditionSilu, ditFinalLayer, lowerLabelInputs } from "../program/adaln-zero.js";
import {
  gateBranch,
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
import { lowerHead, lowerTail, type Head } from "../program/ends.js";
import type { FamilyLowering } from "./lowering.js";

export const lowerDit: FamilyLowering = (ctx: LowerContext, _facts: Facts, schedule: StepTable, noiseSeed: number): Head => {
  const b = ctx.b;
  const { D } = ctx;
  // get_2d_sincos_pos_embed(D, grid): coordinates are the integer row and column indices.
  const head = lowerHead(ctx, { rowScale: 1, colScale: 1 });
  const labels = lowerLabelInputs(ctx, head);
  const t = timestepEmbedding(ctx, head.timestep);
  const c = classConditionSilu(ctx, t, labels);

  for (let i = 0; i < ctx.hyper.depth; i++) {
    const block: BlockRef = { kind: "spatial", index: i };
    const p = `blocks.${i}`;
    const m = adaLNZeroModulation(ctx, block, c, `${p}.adaLN_modulation.1`);

    const spatial = pabBranch(ctx, "spatial", block);
    const h = normModulate(ctx, head.x, b.temp(`spatial.${i}.in`, [ctx.rows, D]), mod(m, 0), mod(m, 1), spatial.tags);
    const sa = spatialAttention(ctx, h, { qkv: `${p}.attn.qkv`, proj: `${p}.attn.proj` }, `spatial.${i}.attn`, spatial.tags);
    residual(ctx, head.x, gateBranch(ctx, sa, mod(m, 2), `spatial.${i}.attn`, spatial.cached, spatial.tags), block);

    residual(ctx, head.x, mlpBranchOutput(ctx, head.x, `${p}.mlp`, m, [3, 4, 5], block), block);
  }
  lowerTail(ctx, ditFinalLayer(ctx, head.x, c), head, schedule, noiseSeed);
  return head;
};
