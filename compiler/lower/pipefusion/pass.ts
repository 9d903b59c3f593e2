/**
 * One lowering pass of a PipeFusion program (lower-pipefusion.ts): the family's lowering runs once for the
 * synchronous warm-up phase (the whole sample) and once per row band for the pipelined phase, each time with a
 * context whose `pipefusion` field says which. The shared pieces (program/blocks.ts, program/ends.ts) ask the
 * helpers here for the few things a band changes, so every family gets PipeFusion without a line of its own:
 * - the head embeds only the band's token rows and adds the band's own positional table;
 * - spatial self-attention writes the pass's K/V into the block's K/V buffer and attends to the whole buffer;
 * - the tail unpatchifies the band into the latent rows it covers, and the solver updates only those rows.
 * Without `pipefusion` on the context every helper answers "no band", so other layouts lower unchanged.
 */
import type { KvCacheRef } from "../../plan/ops.js";
import type { LowerContext } from "../program/context.js";

/** A row band of the token grid: band `index` of `count` equal bands of whole token rows (every frame). */
export interface Band {
  readonly index: number;
  readonly count: number;
}

export interface PipeFusionPass {
  readonly phase: "warmup" | "pipelined";
  /** The band a pipelined pass covers; a warm-up pass covers the whole sample and has none. */
  readonly band?: Band;
}

/** Latent rows [first, first + count) of the latent height. */
export interface LatentRows {
  readonly first: number;
  readonly count: number;
}

function bandOfContext(ctx: LowerContext): Band | undefined {
  return ctx.pipefusion?.band;
}

/** The pass's band as an op field (patch_embed, sincos_2d, unpatchify); empty for whole-sample passes. */
export function bandField(ctx: LowerContext): { band?: Band } {
  const band = bandOfContext(ctx);
  return band ? { band: { index: band.index, count: band.count } } : {};
}

/** Tokens per frame the pass covers over the whole sequence group (Sp, the laid-out S, for whole-sample passes). */
export function passTokens(ctx: LowerContext): number {
  return ctx.Sp / (bandOfContext(ctx)?.count ?? 1);
}

/** The latent rows a band's token rows cover, cropped to the latent where the family pads the grid. */
export function bandLatentRows(ctx: Pick<LowerContext, "geometry" | "hyper">, band: Band | undefined): LatentRows {
  const height = ctx.geometry.latentHeight;
  if (!band) return { first: 0, count: height };
  const tokenRows = ctx.geometry.tokenRows / band.count;
  const first = band.index * tokenRows * ctx.hyper.patch;
  return { first, count: Math.min(height, first + tokenRows * ctx.hyper.patch) - first };
}

/** The latent rows the pass's tail writes. */
export function passLatentRows(ctx: LowerContext): LatentRows {
  return bandLatentRows(ctx, bandOfContext(ctx));
}

/** The positional table a pass adds: a band has its own (its positions start at its first row). */
export function positionTableName(ctx: LowerContext): string {
  const band = bandOfContext(ctx);
  return band ? `pos.spatial.band${band.index}` : "pos.spatial";
}

/** The solver's band field: the latent rows the pass updates (absent for whole-sample passes). */
export function solverBand(ctx: LowerContext): { band?: LatentRows & { readonly height: number; readonly width: number } } {
  const band = bandOfContext(ctx);
  if (!band) return {};
  const rows = bandLatentRows(ctx, band);
  return { band: { first: rows.first, count: rows.count, height: ctx.geometry.latentHeight, width: ctx.geometry.latentWidth } };
}

/**
 * The K/V buffer of a spatial self-attention under PipeFusion, declared on first use: [sequences·S, 2·heads·hd]
 * (k then v per token, the heads this rank attends with after any Ulysses all-to-all, which hands it the whole
 * band). Warm-up passes write every token (offset 0); a band writes its rows and reads the rest as left by the
 * last step that wrote them. Empty without PipeFusion.
 */
export function kvCacheField(ctx: LowerContext, name: string, sequences: number, heads: number): { kvCache?: KvCacheRef } {
  if (!ctx.pipefusion) return {};
  const keys = ctx.S;
  const buffer = ctx.b.buffer(`kv.${name}`, [sequences * keys, 2 * heads * ctx.headDim], "cache");
  const band = bandOfContext(ctx);
  return { kvCache: { buffer, keys, offset: band ? (band.index * keys) / band.count : 0 } };
}
