/**
 * Open-Sora 1.0 STDiT (models.md §4) as a step program. Each of the depth joint blocks runs, on the residual
 * stream x laid out (samples, frames, tokens):
 *   spatial:  x += g1 · Attn(LN(x)·(1 + c1) + s1)                       over the tokens of each frame
 *   temporal: x += g1 · AttnTemp(x [+ temporal pos-embed in block 0])   no norm, no modulation, the same g1
 *   cross:    x += CrossAttn(x, caption)                                no norm, no gate
 *   mlp:      x += g2 · MLP(LN(x)·(1 + c2) + s2)
 * The quirks are the checkpoint's: the temporal branch sees the un-normalised stream and shares gate_msa, and
 * the temporal table enters only block 0's attention input (§4.2).
 */
import type { Facts } from "../../check/facts.js";
import {
  adaLNSingle,
  blockModulation,
  crossAttentionBranch,
  pixartCross,
  crossKv,
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
import type { LowerContext } from "../program/context.js";
import { lowerHead, lowerTail, lowerTextInputs, t2iFinalLayer, type Head } from "../program/ends.js";
import type { StepTable } from "../../schedule/step-table.js";
import type { FamilyLowering } from "./lowering.js";

/**
 * Open-Sora 1.0's configs scale positions by `space_scale` (0.5 at 256², 1 at 512²: idx / space_scale) and
 * `time_scale` (1; 2/3 only for its 64-frame config, which no size reveals, so 1 is used).
 */
function spaceScale(height: number): number {
  return height / 512;
}

export const lowerStdit: FamilyLowering = (ctx: LowerContext, _facts: Facts, schedule: StepTable, noiseSeed: number): Head => {
  const b = ctx.b;
  const { D } = ctx;
  const coord = 1 / spaceScale(ctx.spec.video?.height ?? 512);
  const head = lowerHead(ctx, { rowScale: coord, colScale: coord });
  const text = lowerTextInputs(ctx, head, { fc1: "y_embedder.y_proj.fc1", fc2: "y_embedder.y_proj.fc2", gelu: true });

  // Over the laid-out frames: frames padded for DSP take the next positions, and their rows are never keys.
  const temporalTable = b.buffer("pos.temporal", [ctx.Tp, D], "table");
  b.setup({ op: "sincos_1d", out: temporalTable, count: ctx.Tp, first: 0, scale: 1, width: D });

  const t = timestepEmbedding(ctx, head.timestep);
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

    const temporal = pabBranch(ctx, "temporal", block);
    const ta = temporalAttention(
      ctx,
      head.x,
      { qkv: `${p}.attn_temp.qkv`, proj: `${p}.attn_temp.proj` },
      `spatial.${i}.temporal`,
      temporal.tags,
      i === 0 ? temporalTable : undefined,
    );
    residual(ctx, head.x, gateBranch(ctx, ta, mod(m, 2), `spatial.${i}.temporal`, temporal.cached, temporal.tags), block);

    residual(ctx, head.x, crossAttentionBranch(ctx, head.x, pixartCross(`${p}.cross_attn`), kv, text.mask, text.tokens, block), block);
    residual(ctx, head.x, mlpBranchOutput(ctx, head.x, `${p}.mlp`, m, [3, 4, 5], block), block);
  }
  lowerTail(ctx, t2iFinalLayer(ctx, head.x, t), head, schedule, noiseSeed);
  return head;
};
