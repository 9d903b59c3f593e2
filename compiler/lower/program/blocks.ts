/**
 * The pieces DiT families are built from (models.md §0), lowered once with every parallel layout handled here:
 * a family file composes these and never inserts a collective itself. Each piece emits step ops into the
 * builder and returns the buffer holding its result.
 */
import type { AttentionKind, BlockKind } from "../../models/types.js";
import type { ModRef, OpInit } from "../../plan/ops.js";
import { attentionModeOf, mlpModeOf } from "../pab.js";
import { kvCacheField } from "../pipefusion/pass.js";
import type { LowerContext } from "./context.js";

/** Where a block sits, for op tags and buffer names. */
export interface BlockRef {
  readonly kind: BlockKind;
  readonly index: number;
}

function tag(block: BlockRef | undefined): Pick<OpInit, "block" | "blockKind"> {
  return block ? { block: block.index, blockKind: block.kind } : {};
}

function blockName(block: BlockRef): string {
  return `${block.kind}.${block.index}`;
}

/** Whether any step reuses this attention kind in this block: then its branch output must live across steps. */
function attentionCached(ctx: LowerContext, kind: AttentionKind, block: BlockRef): boolean {
  const plan = ctx.pab.attention.find((a) => a.kind === kind);
  if (!plan?.cache.exists || !plan.cache.blockKinds.includes(block.kind)) return false;
  return ctx.pab.steps.some((s) => attentionModeOf(ctx.pab, s.index, kind, block.kind, block.index) === "reuse");
}

function mlpCached(ctx: LowerContext, block: BlockRef): boolean {
  return ctx.pab.steps.some((s) => mlpModeOf(ctx.pab, s.index, block.kind, block.index) === "reuse");
}

/** The buffer a branch writes its (gated) output to: a cache when PAB reuses it, else a temporary. */
export function branchOutput(ctx: LowerContext, name: string, cached: boolean): string {
  return cached ? ctx.b.buffer(`cache.${name}`, [ctx.rows, ctx.D], "cache") : ctx.b.temp(name, [ctx.rows, ctx.D]);
}

/** y = act(x·Wᵀ + b) with the weight and bias of `prefix` (a timm/diffusers Linear). */
export function linear(
  ctx: LowerContext,
  x: string,
  prefix: string,
  out: string,
  rows: number,
  inFeatures: number,
  outFeatures: number,
  extra: {
    activation?: "none" | "gelu_tanh" | "silu";
    bias?: boolean;
    setup?: boolean;
    tags?: Partial<OpInit>;
    /** Write a column range of a wider packed buffer (LinearOp.outColumns). */
    outColumns?: { offset: number; stride: number };
    /** Widen runs of real heads with zero heads (LinearOp.padColumns). */
    padColumns?: { chunks: number; width: number };
    /** Read a column range of a wider buffer (LinearOp.inColumns). */
    inColumns?: { offset: number; stride: number };
  } = {},
): string {
  const b = ctx.b;
  const weight = b.weight(`${prefix}.weight`, [outFeatures, inFeatures]);
  const bias = extra.bias === false ? undefined : b.weight(`${prefix}.bias`, [outFeatures]);
  const op = {
    op: "linear",
    x,
    weight,
    ...(bias ? { bias } : {}),
    out,
    rows,
    inFeatures,
    outFeatures,
    activation: extra.activation ?? "none",
    ...(extra.outColumns ? { outColumns: extra.outColumns } : {}),
    ...(extra.padColumns ? { padColumns: extra.padColumns } : {}),
    ...(extra.inColumns ? { inColumns: extra.inColumns } : {}),
    ...(extra.tags ?? {}),
  } as OpInit;
  if (extra.setup) b.setup(op);
  else b.step(op);
  return out;
}

/** The sinusoidal timestep embedder and its MLP (models.md §0.2): [n, D]. */
export function timestepEmbedding(ctx: LowerContext, timestep: string, prefix = "t_embedder"): string {
  const b = ctx.b;
  const freq = b.temp("t.freq", [ctx.n, 256]);
  b.step({ op: "timestep_embed", t: timestep, out: freq, samples: ctx.n, dim: 256, maxPeriod: 10000 });
  const h = linear(ctx, freq, `${prefix}.mlp.0`, b.temp("t.hidden", [ctx.n, ctx.D]), ctx.n, 256, ctx.D, { activation: "silu" });
  return linear(ctx, h, `${prefix}.mlp.2`, b.temp("t.emb", [ctx.n, ctx.D]), ctx.n, ctx.D, ctx.D);
}

/** adaLN-single's shared projection t0 = Linear(SiLU(t)) (models.md §0.8): [n, 6D]. */
export function adaLNSingle(ctx: LowerContext, t: string, prefix = "t_block.1"): string {
  const b = ctx.b;
  const act = b.temp("t.silu", [ctx.n, ctx.D]);
  b.step({ op: "silu", x: t, out: act, count: ctx.n * ctx.D });
  return linear(ctx, act, prefix, b.temp("t.t0", [ctx.n, 6 * ctx.D]), ctx.n, ctx.D, 6 * ctx.D);
}

/** A block's six modulation rows: its scale_shift_table plus t0 (adaLN-single), [n, 6, D]. */
export function blockModulation(ctx: LowerContext, block: BlockRef, t0: string, table: string): string {
  const b = ctx.b;
  const out = b.temp(`${blockName(block)}.mod`, [ctx.n, 6, ctx.D]);
  b.step({
    op: "modulation",
    table: b.weight(table, [6, ctx.D]),
    source: t0,
    out,
    samples: ctx.n,
    chunks: 6,
    sourceChunks: 6,
    width: ctx.D,
    ...tag(block),
  });
  return out;
}

export function mod(buffer: string, chunk: number): ModRef {
  return { buffer, chunk };
}

/** LN(x)·(1 + scale) + shift over the residual stream. */
export function normModulate(ctx: LowerContext, x: string, out: string, shift: ModRef | undefined, scale: ModRef | undefined, tags: Partial<OpInit> = {}): string {
  ctx.b.step({
    op: "layernorm_modulate",
    x,
    out,
    rows: ctx.rows,
    width: ctx.D,
    eps: 1e-6,
    rowsPerSample: ctx.rows / ctx.n,
    ...(shift ? { shift } : {}),
    ...(scale ? { scale } : {}),
    ...tags,
  } as OpInit);
  return out;
}

/** x += branch (the residual add; never skipped, so a reused branch output is added again). */
export function residual(ctx: LowerContext, x: string, branch: string, block?: BlockRef): void {
  ctx.b.step({ op: "add", a: x, b: branch, out: x, count: ctx.rows * ctx.D, ...tag(block) });
}

/** Prefixes of separate q, k, v Linears [D, D] (diffusers `Attention`: to_q, to_k, to_v). */
export interface SplitQkv {
  readonly q: string;
  readonly k: string;
  readonly v: string;
}

export interface AttentionWeights {
  /** Prefix of the packed qkv Linear, or the separate q, k, v Linears that fill the same packed buffer. */
  readonly qkv: string | SplitQkv;
  readonly proj: string;
  /** STDiT3: per-head RMSNorm weights of q and k. */
  readonly qNorm?: string;
  readonly kNorm?: string;
  readonly rope?: boolean;
}

/**
 * The packed qkv [rows, 3W] the attention op reads (feature s·W + h·hd + d): one Linear of a packed weight, or
 * three Linears each writing its column range (q at 0, k at W, v at 2W), which is the same layout. W is D, or,
 * with zero heads padded for Ulysses (`pad_heads`), the padded heads' width: each of q, k, v then holds its real
 * heads first and zeros after (LinearOp.padColumns), so the padded heads attend with zero q, k, v.
 */
export function qkvProjection(
  ctx: LowerContext,
  h: string,
  qkv: string | SplitQkv,
  out: string,
  rows: number,
  tags: Partial<OpInit>,
  width: number = ctx.D,
): string {
  const D = ctx.D;
  const pad = (chunks: number) => (width > D ? { padColumns: { chunks, width } } : {});
  if (typeof qkv === "string") return linear(ctx, h, qkv, out, rows, D, 3 * D, { tags, ...pad(3) });
  [qkv.q, qkv.k, qkv.v].forEach((prefix, s) =>
    linear(ctx, h, prefix, out, rows, D, D, { tags, outColumns: { offset: s * width, stride: 3 * width }, ...pad(1) }),
  );
  return out;
}

/** The masking field of an attention over `padded` positions of which the first `real` are the sample's. */
function validKeysField(real: number, padded: number): { validKeys?: number } {
  return padded > real ? { validKeys: real } : {};
}

/**
 * Self-attention over the tokens of each frame (spatial) from the modulated input h [rows, D], returning the
 * projected output [rows, D]. Under `tokens` sharding the sequence is gathered by Ulysses all-to-alls over heads
 * and the Ring exchange; under `dsp` and `none` it is local. Tokens padded for an even split are masked as
 * keys. Heads padded for Ulysses (Hp > heads) widen q, k, v and the attention output to Hp heads, the zero heads
 * last (so on the last Ulysses ranks), and the output projection reads back only the real heads' columns.
 */
export function spatialAttention(ctx: LowerContext, h: string, w: AttentionWeights, name: string, tags: Partial<OpInit>): string {
  const b = ctx.b;
  const { D, rows } = ctx;
  const W = ctx.Hp === ctx.heads ? D : ctx.Hp * ctx.headDim;
  const qkv = qkvProjection(ctx, h, w.qkv, b.temp(`${name}.qkv`, [rows, 3 * W]), rows, tags, W);
  const sequences = ctx.n * ctx.Tl;
  const U = ctx.sharding === "tokens" ? ctx.ulysses : 1;
  const R = ctx.sharding === "tokens" ? ctx.ring : 1;
  let input = qkv;
  if (U > 1) {
    input = b.temp(`${name}.qkv.heads`, [rows, 3 * W]);
    b.step({ op: "all_to_all", axis: "ulysses", x: qkv, out: input, dims: [sequences, ctx.Sl, 3, W], scatter: 3, gather: 1, ...tags } as OpInit);
  }
  const attn = b.temp(`${name}.attn`, [rows, W]);
  b.step({
    op: "self_attention",
    qkv: input,
    out: attn,
    batch: sequences,
    seq: ctx.Sl * U,
    heads: ctx.Hp / U,
    headDim: ctx.headDim,
    scale: 1 / Math.sqrt(ctx.headDim),
    ...normsAndRope(ctx, w, false),
    ...(R > 1 ? { ring: "ring" as const } : {}),
    // PipeFusion: K/V through the block's K/V buffer, so a band's queries see every band (pipefusion/pass.ts).
    ...kvCacheField(ctx, name, sequences, ctx.Hp / U),
    ...validKeysField(ctx.S, ctx.Sp),
    ...tags,
  } as OpInit);
  let out = attn;
  if (U > 1) {
    out = b.temp(`${name}.attn.tokens`, [rows, W]);
    b.step({ op: "all_to_all", axis: "ulysses", x: attn, out, dims: [sequences, ctx.Sl * U, 1, W / U], scatter: 1, gather: 3, ...tags } as OpInit);
  }
  const columns = W > D ? { inColumns: { offset: 0, stride: W } } : {};
  return linear(ctx, out, w.proj, b.temp(`${name}.proj`, [rows, D]), rows, D, D, { tags, ...columns });
}

function normsAndRope(ctx: LowerContext, w: AttentionWeights, temporal: boolean): Partial<OpInit> {
  const b = ctx.b;
  return {
    ...(w.qNorm ? { qNorm: { weight: b.weight(w.qNorm, [ctx.headDim]), eps: 1e-6 } } : {}),
    ...(w.kNorm ? { kNorm: { weight: b.weight(w.kNorm, [ctx.headDim]), eps: 1e-6 } } : {}),
    ...(w.rope && temporal ? { rope: { theta: 10000 } } : {}),
  } as Partial<OpInit>;
}

/**
 * Self-attention over the frames at each token position (temporal), from x [rows, D] laid out (n, Tl, Sl):
 * permuted to (n, tokens, Tp), with DSP's all-to-all switching the frame shard to a token shard first and back
 * after. Frames padded for DSP are masked as keys. `position` adds a [Tp, D] table to the attention input (STDiT
 * 1.0's block 0). Returns [rows, D] in the resting layout.
 */
export function temporalAttention(
  ctx: LowerContext,
  x: string,
  w: AttentionWeights,
  name: string,
  tags: Partial<OpInit>,
  position?: string,
): string {
  const b = ctx.b;
  const { D, rows, n } = ctx;
  const T = ctx.Tp;
  let frames = x;
  let tokens = ctx.Sl;
  if (ctx.sharding === "dsp") {
    tokens = ctx.Sp / ctx.dsp;
    frames = b.temp(`${name}.frames`, [rows, D]);
    b.step({ op: "all_to_all", axis: "dsp", x, out: frames, dims: [n, ctx.Tl, ctx.Sp, D], scatter: 2, gather: 1, ...tags } as OpInit);
  }
  const seqs = b.temp(`${name}.seqs`, [rows, D]);
  b.step({ op: "permute", x: frames, out: seqs, dims: [n, T, tokens, D], perm: [0, 2, 1, 3], ...tags } as OpInit);
  let input = seqs;
  if (position) {
    input = b.temp(`${name}.pos`, [rows, D]);
    b.step({ op: "add_rows", x: seqs, table: position, out: input, rows, width: D, period: T, repeat: 1, ...tags } as OpInit);
  }
  const qkv = qkvProjection(ctx, input, w.qkv, b.temp(`${name}.qkv`, [rows, 3 * D]), rows, tags);
  const attn = b.temp(`${name}.attn`, [rows, D]);
  b.step({
    op: "self_attention",
    qkv,
    out: attn,
    batch: n * tokens,
    seq: T,
    heads: ctx.heads,
    headDim: ctx.headDim,
    scale: 1 / Math.sqrt(ctx.headDim),
    ...normsAndRope(ctx, w, true),
    ...validKeysField(ctx.T, T),
    ...tags,
  } as OpInit);
  const proj = linear(ctx, attn, w.proj, b.temp(`${name}.proj`, [rows, D]), rows, D, D, { tags });
  const back = b.temp(`${name}.back`, [rows, D]);
  b.step({ op: "permute", x: proj, out: back, dims: [n, tokens, T, D], perm: [0, 2, 1, 3], ...tags } as OpInit);
  if (ctx.sharding !== "dsp") return back;
  const rest = b.temp(`${name}.rest`, [rows, D]);
  b.step({ op: "all_to_all", axis: "dsp", x: back, out: rest, dims: [n, T, tokens, D], scatter: 1, gather: 2, ...tags } as OpInit);
  return rest;
}

/**
 * x += emb1d(D, frame · scale) per frame, on the residual stream at rest (n, Tl, Sl): Latte's `temp_embed` and
 * LatteT2V's `temp_pos_embed`, added once before the first temporal block. Under DSP the rank holds a run of
 * the frames, so its table (setup) is the matching run of positions; no communication is needed.
 */
export function addFrameTable(ctx: LowerContext, x: string, scale: number): void {
  const b = ctx.b;
  const table = b.buffer("pos.temporal", [ctx.Tl, ctx.D], "table");
  const shard = ctx.sharding === "dsp" ? { shard: { axis: "dsp" as const, parts: ctx.dsp } } : {};
  // Padded frames take the next positions: their rows are never keys and are dropped at the end.
  b.setup({ op: "sincos_1d", out: table, count: ctx.Tp, first: 0, scale, width: ctx.D, ...shard });
  b.step({ op: "add_rows", x, table, out: x, rows: ctx.rows, width: ctx.D, period: ctx.Tl, repeat: ctx.Sl });
}

/** The gated output of an attention branch into its cache or temporary: gate[s]·y. */
export function gateBranch(ctx: LowerContext, y: string, gate: ModRef, name: string, cached: boolean, tags: Partial<OpInit>): string {
  const out = branchOutput(ctx, name, cached);
  ctx.b.step({ op: "gate", x: y, gate, out, rows: ctx.rows, width: ctx.D, rowsPerSample: ctx.rows / ctx.n, ...tags } as OpInit);
  return out;
}

/** Whether the branch of `kind` in `block` is cached, and the tags its ops carry. */
export function pabBranch(ctx: LowerContext, kind: AttentionKind, block: BlockRef): { cached: boolean; tags: Partial<OpInit> } {
  const cached = attentionCached(ctx, kind, block);
  return { cached, tags: { ...tag(block), ...(cached ? { pab: kind } : {}) } as Partial<OpInit> };
}

/** Whether the MLP of `block` is cached, and the tags its ops carry. */
export function mlpBranch(ctx: LowerContext, block: BlockRef): { cached: boolean; tags: Partial<OpInit> } {
  const cached = mlpCached(ctx, block);
  return { cached, tags: { ...tag(block), ...(cached ? { mlp: true } : {}) } as Partial<OpInit> };
}

/** The weights of a cross-attention branch: the query projection and the output projection. */
export interface CrossWeights {
  readonly q: string;
  readonly proj: string;
}

/** PixArt-style names (`cross_attn.q_linear`, `cross_attn.proj`) under a block prefix. */
export function pixartCross(prefix: string): CrossWeights {
  return { q: `${prefix}.q_linear`, proj: `${prefix}.proj` };
}

/** The cross-attention branch (models.md §0.7): q from x, the block's precomputed text kv, no norm, no gate. */
export function crossAttentionBranch(ctx: LowerContext, x: string, w: CrossWeights, kv: string, mask: string, textTokens: number, block: BlockRef): string {
  const b = ctx.b;
  const { D, rows } = ctx;
  const { cached, tags } = pabBranch(ctx, "cross", block);
  const name = `${blockName(block)}.cross`;
  const q = linear(ctx, x, w.q, b.temp(`${name}.q`, [rows, D]), rows, D, D, { tags });
  const attn = b.temp(`${name}.attn`, [rows, D]);
  b.step({
    op: "cross_attention",
    q,
    kv,
    mask,
    out: attn,
    samples: ctx.n,
    queries: rows / ctx.n,
    keys: textTokens,
    heads: ctx.heads,
    headDim: ctx.headDim,
    scale: 1 / Math.sqrt(ctx.headDim),
    ...tags,
  } as OpInit);
  return linear(ctx, attn, w.proj, branchOutput(ctx, name, cached), rows, D, D, { tags });
}

/** The text kv of one block's cross-attention, computed once in setup from the projected caption [n·L, D]. */
export function crossKv(ctx: LowerContext, caption: string, prefix: string, textTokens: number, block: BlockRef): string {
  const rows = ctx.n * textTokens;
  const out = ctx.b.buffer(`${blockName(block)}.cross.kv`, [rows, 2 * ctx.D], "table");
  return linear(ctx, caption, `${prefix}.kv_linear`, out, rows, ctx.D, 2 * ctx.D, { setup: true });
}

/** The MLP branch: LN-modulate, fc1 with GELU-tanh, fc2, gate (models.md §0.10). */
export function mlpBranchOutput(ctx: LowerContext, x: string, prefix: string, m: string, chunks: readonly [number, number, number], block: BlockRef): string {
  const b = ctx.b;
  const { D, rows } = ctx;
  const { cached, tags } = mlpBranch(ctx, block);
  const name = `${blockName(block)}.mlp`;
  const h = normModulate(ctx, x, b.temp(`${name}.in`, [rows, D]), mod(m, chunks[0]), mod(m, chunks[1]), tags);
  const hidden = linear(ctx, h, `${prefix}.fc1`, b.temp(`${name}.hidden`, [rows, ctx.hyper.mlpHidden]), rows, D, ctx.hyper.mlpHidden, {
    activation: "gelu_tanh",
    tags,
  });
  const y = linear(ctx, hidden, `${prefix}.fc2`, b.temp(`${name}.out`, [rows, D]), rows, ctx.hyper.mlpHidden, D, { tags });
  return gateBranch(ctx, y, mod(m, chunks[2]), name, cached, tags);
}
