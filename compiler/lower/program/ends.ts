/**
 * The two ends of every denoising step, shared by all families: the head (the latent state and its noise
 * input, patch embedding with the rank's shard, the fixed positional table, the text inputs and their
 * projection) and the tail (final layer, gathering the sequence shards, unpatchify, gathering the CFG halves,
 * guidance and the solver update).
 */
import type { GroupAxis } from "../mesh.js";
import type { OpInit } from "../../plan/ops.js";
import type { PlanInput, Shard } from "../../plan/types.js";
import { guidanceFor } from "../../schedule/guidance.js";
import type { StepTable } from "../../schedule/step-table.js";
import { bandField, passLatentRows, passTokens, positionTableName, solverBand } from "../pipefusion/pass.js";
import { linear, mod, normModulate } from "./blocks.js";
import type { LowerContext } from "./context.js";

export interface Head {
  /** The residual stream [rows, D]. */
  readonly x: string;
  /** The model timestep per batch sample [n], written by the runtime every step. */
  readonly timestep: string;
  readonly latent: string;
  readonly inputs: PlanInput[];
}

/** A data-parallel rank fills its rows from its own part of the run's samples. */
export function dpShard(ctx: LowerContext): Partial<PlanInput> {
  const dp = ctx.samples / ctx.localSamples;
  return dp > 1 ? { samplesShard: { axis: "dp", parts: dp } } : {};
}

/** The rank's sequence shard of the tokens, as ops name it. */
export function sequenceShard(ctx: LowerContext): Shard | undefined {
  if (ctx.sharding === "dsp") return { axis: "dsp", parts: ctx.dsp };
  if (ctx.sharding === "tokens") return { axis: sequenceAxis(ctx), parts: ctx.ulysses * ctx.ring };
  return undefined;
}

/** The group a token shard is gathered over: the USP block, or the one sequence axis in use. */
function sequenceAxis(ctx: LowerContext): "sequence" | "ulysses" | "ring" {
  if (ctx.ulysses > 1 && ctx.ring > 1) return "sequence";
  return ctx.ulysses > 1 ? "ulysses" : "ring";
}

/** The padded token layout as ops name it (PaddedTokens), when the layout pads frames or tokens. */
function paddedField(ctx: LowerContext): { padded?: { frames: number; tokens: number } } {
  return ctx.Tp > ctx.T || ctx.Sp > ctx.S ? { padded: { frames: ctx.Tp, tokens: ctx.Sp } } : {};
}

export interface PositionScales {
  readonly rowScale: number;
  readonly colScale: number;
}

/**
 * `patchConv` names the checkpoint's patch embedding: a Conv3d [D, C, pt, p, p] or a per-frame Conv2d [D, C, p,
 * p] (the original Latte's `x_embedder`); by default video families' `x_embedder.proj` is a Conv3d.
 */
export function lowerHead(ctx: LowerContext, positions: PositionScales | null, patchPrefix = "x_embedder.proj", patchConv?: "2d" | "3d"): Head {
  const b = ctx.b;
  const g = ctx.geometry;
  const C = ctx.hyper.inChannels;
  const latent = b.buffer("latent", [ctx.localSamples, C, g.latentFrames, g.latentHeight, g.latentWidth], "state", "f32");
  const timestep = b.buffer("timestep", [ctx.n], "input", "f32");
  const inputs: PlanInput[] = [
    { buffer: latent, rows: { first: 0, count: ctx.localSamples }, source: "noise", ...dpShard(ctx) },
    { buffer: timestep, rows: { first: 0, count: ctx.n }, source: "timestep" },
  ];
  const x = b.temp("x", [ctx.rows, ctx.D]);
  const pt = ctx.hyper.patchT;
  const p = ctx.hyper.patch;
  const conv3d = patchConv ? patchConv === "3d" : ctx.family.kind === "video" && patchPrefix === "x_embedder.proj";
  const weightShape = conv3d ? [ctx.D, C, pt, p, p] : [ctx.D, C, p, p];
  const shard = sequenceShard(ctx);
  b.step({
    op: "patch_embed",
    x: latent,
    inputSamples: ctx.localSamples,
    weight: b.weight(`${patchPrefix}.weight`, weightShape),
    bias: b.weight(`${patchPrefix}.bias`, [ctx.D]),
    out: x,
    samples: ctx.n,
    channels: C,
    latent: { frames: g.latentFrames, height: g.latentHeight, width: g.latentWidth },
    patch: { t: pt, h: p, w: p },
    grid: { frames: g.tokenFrames, rows: g.tokenRows, cols: g.tokenCols },
    ...(shard ? { shard: { ...shard, dim: ctx.sharding === "dsp" ? "frames" : "tokens" } } : {}),
    ...bandField(ctx),
    ...paddedField(ctx),
    hidden: ctx.D,
  } as OpInit);
  if (positions) {
    const table = b.buffer(positionTableName(ctx), [ctx.Sl, ctx.D], "table");
    b.setup({
      op: "sincos_2d",
      out: table,
      rows: g.tokenRows,
      cols: g.tokenCols,
      rowScale: positions.rowScale,
      colScale: positions.colScale,
      width: ctx.D,
      ...(ctx.sharding === "tokens" && shard ? { shard } : {}),
      ...bandField(ctx),
      ...(ctx.Sp > ctx.S ? { padded: ctx.Sp } : {}),
    } as OpInit);
    b.step({ op: "add_rows", x, table, out: x, rows: ctx.rows, width: ctx.D, period: ctx.Sl, repeat: 1 });
  }
  return { x, timestep, latent, inputs };
}

export interface TextInputs {
  /** The projected caption [n·L, D] (setup). */
  readonly caption: string;
  readonly mask: string;
  readonly tokens: number;
}

/**
 * Text features [n, L, C] and mask for the model batch, and the caption projection computed once in setup. The
 * batch holds the prompts' features (source `text`: the encoded prompts, or `y` of a `conditioning.embeddings`
 * file, which holds one sample), then (with guidance, unless CFG parallel puts it on the other cfg rank) the
 * family's unconditional input: the stored null caption with the prompt's mask (models.md §0.9), or the
 * negative prompt's features (encoded, or the file's `negative_y`) with the same mask.
 */
export function lowerTextInputs(ctx: LowerContext, head: Head, projection: { fc1: string; fc2: string; gelu: boolean }): TextInputs {
  const b = ctx.b;
  const L = ctx.hyper.textTokens;
  const Ct = ctx.hyper.captionChannels;
  const text = b.buffer("text", [ctx.n, L, Ct], "input");
  const mask = b.buffer("text.mask", [ctx.n, L], "input", "i32");
  const s = ctx.localSamples;
  const uncond = ctx.family.uncond === "null-caption" ? "null-text" : "text";
  const shard = dpShard(ctx);
  if (ctx.cfgParallel) {
    head.inputs.push(
      { buffer: text, rows: { first: 0, count: s }, source: "text", cfgRank: 0, ...shard },
      { buffer: text, rows: { first: 0, count: s }, source: uncond, cfgRank: 1, ...shard },
      { buffer: mask, rows: { first: 0, count: s }, source: "text-mask", ...shard },
    );
  } else {
    head.inputs.push({ buffer: text, rows: { first: 0, count: s }, source: "text", ...shard });
    head.inputs.push({ buffer: mask, rows: { first: 0, count: s }, source: "text-mask", ...shard });
    if (ctx.guided) {
      head.inputs.push({ buffer: text, rows: { first: s, count: s }, source: uncond, ...shard });
      head.inputs.push({ buffer: mask, rows: { first: s, count: s }, source: "text-mask", ...shard });
    }
  }
  const rows = ctx.n * L;
  const hidden = b.buffer("caption.hidden", [rows, ctx.D], "table");
  linear(ctx, text, projection.fc1, hidden, rows, Ct, ctx.D, { activation: projection.gelu ? "gelu_tanh" : "none", setup: true });
  const caption = b.buffer("caption", [rows, ctx.D], "table");
  linear(ctx, hidden, projection.fc2, caption, rows, ctx.D, ctx.D, { setup: true });
  return { caption, mask, tokens: L };
}

/**
 * PixArt-style final layer (models.md §0.8): shift, scale = final_layer.scale_shift_table + t (the raw timestep
 * embedding, not t0), LN-modulate, linear to pt·p·p·Cout features per token.
 */
export function t2iFinalLayer(ctx: LowerContext, x: string, t: string, prefix = "final_layer"): string {
  const b = ctx.b;
  const m = b.temp("final.mod", [ctx.n, 2, ctx.D]);
  b.step({
    op: "modulation",
    table: b.weight(`${prefix}.scale_shift_table`, [2, ctx.D]),
    source: t,
    out: m,
    samples: ctx.n,
    chunks: 2,
    sourceChunks: 1,
    width: ctx.D,
  });
  const h = normModulate(ctx, x, b.temp("final.in", [ctx.rows, ctx.D]), mod(m, 0), mod(m, 1));
  const F = featuresPerToken(ctx);
  return linear(ctx, h, `${prefix}.linear`, b.temp("final.out", [ctx.rows, F]), ctx.rows, ctx.D, F);
}

export function featuresPerToken(ctx: LowerContext): number {
  return ctx.hyper.patchT * ctx.hyper.patch * ctx.hyper.patch * ctx.hyper.outChannels;
}

/**
 * Gathers token features [rows, F] to the whole sample, unpatchifies (dropping padded frames and tokens), gathers
 * the CFG halves; guidance; solver.
 */
export function lowerTail(ctx: LowerContext, features: string, head: Head, schedule: StepTable, noiseSeed: number): void {
  const b = ctx.b;
  const g = ctx.geometry;
  const F = featuresPerToken(ctx);
  const full = ctx.n * ctx.Tp * passTokens(ctx);
  // The latent rows this pass produces: all of them, or a PipeFusion band's (pipefusion/pass.ts).
  const rows = passLatentRows(ctx);
  let tokens = features;
  if (ctx.sharding !== "none") {
    tokens = b.temp("final.gathered", [full, F]);
    const axis: GroupAxis = ctx.sharding === "dsp" ? "dsp" : sequenceAxis(ctx);
    const dims: [number, number, number, number] = [ctx.n, ctx.Tl, ctx.Sl, F];
    b.step({ op: "all_gather", axis, x: features, out: tokens, dims, dim: ctx.sharding === "dsp" ? 1 : 2 });
  }
  const Cout = ctx.hyper.outChannels;
  const plane = g.latentFrames * rows.count * g.latentWidth;
  let out = b.temp("model.out", [ctx.n, Cout, g.latentFrames, rows.count, g.latentWidth]);
  b.step({
    op: "unpatchify",
    x: tokens,
    out,
    samples: ctx.n,
    channels: Cout,
    grid: { frames: g.tokenFrames, rows: g.tokenRows, cols: g.tokenCols },
    patch: { t: ctx.hyper.patchT, h: ctx.hyper.patch, w: ctx.hyper.patch },
    latent: { frames: g.latentFrames, height: g.latentHeight, width: g.latentWidth },
    ...bandField(ctx),
    ...paddedField(ctx),
  });
  const s = ctx.localSamples;
  if (ctx.cfgParallel) {
    const both = b.temp("model.out.cfg", [2 * s, Cout, g.latentFrames, rows.count, g.latentWidth]);
    b.step({ op: "all_gather", axis: "cfg", x: out, out: both, dims: [1, s, Cout, plane], dim: 1 });
    out = both;
  }
  const C = ctx.hyper.inChannels;
  const learnedVariance = schedule.solver === "ddpm" && Cout === 2 * C;
  let prediction = out;
  let stride = Cout;
  if (ctx.guided) {
    const rule = guidanceFor(ctx.family, ctx.spec.scheduler);
    const variance = learnedVariance ? "cond" : "drop";
    stride = variance === "cond" ? 2 * C : C;
    prediction = b.temp("guided", [s, stride, g.latentFrames, rows.count, g.latentWidth]);
    b.step({
      op: "guidance",
      x: out,
      out: prediction,
      samples: s,
      plane,
      channels: Cout,
      predictionChannels: C,
      mixed: rule.mixed === "all" ? C : Math.min(rule.mixed, C),
      variance,
      scale: ctx.spec.scheduler.guidance ?? ctx.family.defaults.guidance,
    });
  }
  const history =
    schedule.solver === "dpmpp2m" ? b.buffer("solver.history", [s, C, g.latentFrames, g.latentHeight, g.latentWidth], "state", "f32") : undefined;
  b.step({
    op: "solver_update",
    solver: schedule.solver,
    latent: head.latent,
    prediction,
    learnedVariance,
    ...(history ? { history } : {}),
    samples: s,
    channels: C,
    stride,
    plane,
    noiseSeed,
    ...solverBand(ctx),
  });
}
