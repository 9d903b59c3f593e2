/**
 * The class-conditional adaLN-Zero path of DiT (models.md §1.2, §0.8), which the original Latte shares (§3.1):
 * the condition c = t_embedder(t) + y_embedder.embedding_table[label] with its label inputs, each block's own
 * modulation Linear(SiLU(c)) -> [n, 6, D], and the DiT-style final layer Linear(SiLU(c)) -> shift, scale.
 * Unlike adaLN-single there is no scale_shift_table: the Linear's output rows are the modulation rows.
 */
import type { OpInit } from "../../plan/ops.js";
import { linear, mod, normModulate, type BlockRef } from "./blocks.js";
import type { LowerContext } from "./context.js";
import { dpShard, featuresPerToken, type Head } from "./ends.js";

/**
 * The class labels of the model batch, `labels` [n] i32: the run's labels, then (with guidance, unless CFG
 * parallel puts it on the other cfg rank) the null class, which the runtime writes as `numClasses`, the extra
 * last row of the embedding table (models.md §11.3).
 */
export function lowerLabelInputs(ctx: LowerContext, head: Head): string {
  const labels = ctx.b.buffer("labels", [ctx.n], "input", "i32");
  const s = ctx.localSamples;
  const shard = dpShard(ctx);
  if (ctx.cfgParallel) {
    head.inputs.push(
      { buffer: labels, rows: { first: 0, count: s }, source: "labels", cfgRank: 0, ...shard },
      { buffer: labels, rows: { first: 0, count: s }, source: "null-labels", cfgRank: 1, ...shard },
    );
  } else {
    head.inputs.push({ buffer: labels, rows: { first: 0, count: s }, source: "labels", ...shard });
    if (ctx.guided) head.inputs.push({ buffer: labels, rows: { first: s, count: s }, source: "null-labels", ...shard });
  }
  return labels;
}

/**
 * SiLU(c) with c = t + embedding_table[labels] [n, D]: the one input of every adaLN-Zero Linear in the model
 * (each block's and the final layer's), so it is computed once per step.
 */
export function classConditionSilu(ctx: LowerContext, t: string, labels: string, table = "y_embedder.embedding_table.weight"): string {
  const b = ctx.b;
  const { n, D } = ctx;
  const y = b.temp("y.emb", [n, D]);
  b.step({ op: "embedding", table: b.weight(table, [ctx.hyper.numClasses + 1, D]), ids: labels, out: y, count: n, width: D });
  const c = b.temp("c", [n, D]);
  b.step({ op: "add", a: t, b: y, out: c, count: n * D });
  const act = b.temp("c.silu", [n, D]);
  b.step({ op: "silu", x: c, out: act, count: n * D });
  return act;
}

/**
 * A block's six modulation rows (shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp): its
 * `adaLN_modulation.1` Linear D -> 6D on SiLU(c), whose [n, 6D] output is the [n, 6, D] buffer itself.
 */
export function adaLNZeroModulation(ctx: LowerContext, block: BlockRef, cSilu: string, prefix: string): string {
  const { n, D } = ctx;
  const out = ctx.b.temp(`${block.kind}.${block.index}.mod`, [n, 6, D]);
  const tags = { block: block.index, blockKind: block.kind } as Partial<OpInit>;
  return linear(ctx, cSilu, prefix, out, n, D, 6 * D, { tags });
}

/**
 * DiT's `FinalLayer`: shift, scale = Linear(SiLU(c)).chunk(2), shift first; LN-modulate; linear to p·p·Cout
 * features per token.
 */
export function ditFinalLayer(ctx: LowerContext, x: string, cSilu: string, prefix = "final_layer"): string {
  const b = ctx.b;
  const { n, D, rows } = ctx;
  const m = linear(ctx, cSilu, `${prefix}.adaLN_modulation.1`, b.temp("final.mod", [n, 2, D]), n, D, 2 * D);
  const h = normModulate(ctx, x, b.temp("final.in", [rows, D]), mod(m, 0), mod(m, 1));
  const F = featuresPerToken(ctx);
  return linear(ctx, h, `${prefix}.linear`, b.temp("final.out", [rows, F]), rows, D, F);
}
