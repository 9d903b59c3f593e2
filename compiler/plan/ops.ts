/**
 * The op set of a plan: what one rank executes, as plain data the native interpreter walks in order. Every op
 * names its buffers (by name: weights by checkpoint key, activations by plan buffer name) and carries every
 * size it needs, so the interpreter decides nothing: it checks the sizes against the buffers once, before the
 * step loop, and then only computes.
 *
 * Conventions shared by all ops:
 * - Activation matrices are row-major `[rows, width]`: token rows of every sample in the rank's local batch,
 *   one after another. `rowsPerSample` says how many consecutive rows belong to one sample, so per-sample
 *   values (timestep modulation, gates) broadcast over them.
 * - `ModRef` points at one chunk of a modulation buffer shaped `[samples, chunks, width]` (adaLN's
 *   shift/scale/gate rows, in the reference order shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp,
 *   gate_mlp; the final layer's shift, scale).
 * - Linear weights are `[out, in]` as every checkpoint stores them; y = x · Wᵀ + b.
 * - An op with `pab` belongs to an attention kind's broadcast branch: on a step whose pattern reuses that
 *   kind, the op (and any collective tagged with it) is skipped and its output buffer, a cache, keeps the
 *   value of the last computing step. `mlp` does the same for MLP broadcast of one block.
 * - PipeFusion (lower/pipefusion): an op with `stage` runs only on the ranks of that pipeline stage, one with
 *   `phase` only on steps whose pattern has that phase; `send`/`recv` move buffers between stages.
 */
import type { AttentionKind } from "../models/types.js";
import type { GroupAxis } from "../lower/mesh.js";
import type { Shard } from "./types.js";

/** One chunk of a `[samples, chunks, width]` modulation buffer. */
export interface ModRef {
  readonly buffer: string;
  readonly chunk: number;
}

interface OpBase {
  /** Position in its program (0-based), for messages ("op 41 (self_attention, block 3)"). */
  readonly id: number;
  /** The block the op belongs to (spatial and temporal blocks counted separately: see `blockKind`). */
  readonly block?: number;
  readonly blockKind?: "spatial" | "temporal";
  /** The attention kind whose broadcast skips this op on reuse steps. */
  readonly pab?: AttentionKind;
  /** MLP broadcast: skipped on steps that reuse this block's kept MLP output. */
  readonly mlp?: boolean;
  /** PipeFusion: only ranks of this pipeline stage (their `pipefusion` coordinate) run the op; absent: all. */
  readonly stage?: number;
  /** PipeFusion: only steps whose pattern has this phase run the op; absent: every step. */
  readonly phase?: "warmup" | "pipelined";
  /**
   * PipeFusion's pipeline ring (the last stage hands the updated latent rows to stage 0): a `recv` runs only on
   * steps whose pattern has `latentIn`, a `send` only on steps whose pattern has `latentOut`.
   */
  readonly latentRing?: boolean;
}

/**
 * A row band of the token grid (PipeFusion): band `index` of `count` equal bands of whole token rows, in every
 * frame; positions (h, w) are row-major, so a band is one contiguous run of each frame's rows·cols positions.
 */
export interface RowBand {
  readonly index: number;
  readonly count: number;
}

/** Sinusoidal timestep embedding, [cos | sin] halves (models.md §0.2), of a per-sample scalar. */
export interface TimestepEmbedOp extends OpBase {
  readonly op: "timestep_embed";
  readonly t: string;
  readonly out: string;
  readonly samples: number;
  readonly dim: number;
  readonly maxPeriod: number;
}

/** y = act(x · Wᵀ + b) over `rows` rows; the activation is a fused epilogue. */
export interface LinearOp extends OpBase {
  readonly op: "linear";
  readonly x: string;
  readonly weight: string;
  readonly bias?: string;
  readonly out: string;
  readonly rows: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly activation: "none" | "gelu_tanh" | "silu";
  /**
   * Writes the `outFeatures` columns [offset, offset + outFeatures) of each row of `out`, whose rows are
   * `stride` wide, leaving the other columns alone: separate q, k, v Linears (diffusers `Attention`) fill the
   * packed qkv (stride 3·D) or kv (stride 2·D) buffer the attention ops read. Absent: `out` is [rows, outFeatures].
   */
  readonly outColumns?: { readonly offset: number; readonly stride: number };
  /**
   * Ulysses head padding (`pad_heads`): the outFeatures result columns are `chunks` equal runs of real heads (a
   * packed qkv Linear: q, k, v, so 3; one of separate q, k, v Linears: 1), and each run is written at the start
   * of `width` columns whose remaining columns, the zero heads, are written as zeros. The op then writes
   * chunks·width columns a row: all of `out` [rows, chunks·width], or with `outColumns` the range
   * [offset, offset + chunks·width). Absent: the outFeatures columns as they come.
   */
  readonly padColumns?: { readonly chunks: number; readonly width: number };
  /**
   * Reads the inFeatures columns [offset, offset + inFeatures) of each row of `x`, whose rows are `stride` wide:
   * after padded heads the output projection reads only the real heads' columns. Absent: x is [rows, inFeatures].
   */
  readonly inColumns?: { readonly offset: number; readonly stride: number };
}

/** Elementwise SiLU (adaLN applies it to the condition before its linear). */
export interface SiluOp extends OpBase {
  readonly op: "silu";
  readonly x: string;
  readonly out: string;
  readonly count: number;
}

/** out = a + b elementwise over `count` values; `out` may be `a` (in place). */
export interface AddOp extends OpBase {
  readonly op: "add";
  readonly a: string;
  readonly b: string;
  readonly out: string;
  readonly count: number;
}

/** Rows of a table picked by integer ids (class labels). */
export interface EmbeddingOp extends OpBase {
  readonly op: "embedding";
  readonly table: string;
  readonly ids: string;
  readonly out: string;
  readonly count: number;
  readonly width: number;
}

/**
 * The token layout of a split padded to be even (`parallel.pad`): each sample's tokens as `frames` frames of
 * `tokens` positions, at least the grid's frames and rows·cols. The grid's own tokens come first in both (frames
 * 0..grid.frames−1; positions 0..rows·cols−1 of a frame, row-major); the rest is padding.
 */
export interface PaddedTokens {
  readonly frames: number;
  readonly tokens: number;
}

/**
 * Patch embedding as a GEMM (models.md §0.4): latent [samples, channels, T, H, W] (zero-padded at the end of
 * each axis up to the token grid), patches flattened in (c, kt, kh, kw) order, tokens ordered (t, h, w).
 */
export interface PatchEmbedOp extends OpBase {
  readonly op: "patch_embed";
  readonly x: string;
  /** Samples in `x`; batch sample j reads x's sample j mod inputSamples (the CFG halves share the latent). */
  readonly inputSamples: number;
  readonly weight: string;
  readonly bias: string;
  readonly out: string;
  readonly samples: number;
  readonly channels: number;
  readonly latent: { readonly frames: number; readonly height: number; readonly width: number };
  readonly patch: { readonly t: number; readonly h: number; readonly w: number };
  /** Token grid (frames, rows, cols); rows/cols may exceed latent/patch when the family pads. */
  readonly grid: { readonly frames: number; readonly rows: number; readonly cols: number };
  /**
   * The rank's part of the tokens: `frames` (DSP: its run of token frames) or `tokens` (Ulysses/Ring: its
   * run of the rows·cols positions of every frame). Absent: all tokens.
   */
  readonly shard?: Shard & { readonly dim: "frames" | "tokens" };
  /** PipeFusion: only the tokens of this row band (a `tokens` shard then takes the rank's part of the band). */
  readonly band?: RowBand;
  /**
   * The padded token layout `out` follows: padding positions are written as zero rows (no bias); `shard` then
   * takes the rank's part of the padded frames or positions. Absent: the grid as it is.
   */
  readonly padded?: PaddedTokens;
  readonly hidden: number;
}

/**
 * A fixed 2-D sin-cos table [rows·cols, width] (models.md §0.3): the first half encodes the column (width)
 * coordinate, the second the row; coordinates are index · scale.
 */
export interface SinCos2dOp extends OpBase {
  readonly op: "sincos_2d";
  readonly out: string;
  readonly rows: number;
  readonly cols: number;
  readonly rowScale: number;
  readonly colScale: number;
  readonly width: number;
  /** Only the rank's run of the rows·cols positions (token-sharded layouts). */
  readonly shard?: Shard;
  /** PipeFusion: only the positions of this row band (a `shard` then takes the rank's part of the band). */
  readonly band?: RowBand;
  /**
   * Positions padded to this count (at least rows·cols; `parallel.pad`): rows of positions rows·cols and on are
   * zeros, and `shard` takes the rank's part of the padded count. Absent: rows·cols positions.
   */
  readonly padded?: number;
}

/** A fixed 1-D sin-cos table [count, width] with [sin | cos] halves; position = (first + index) · scale. */
export interface SinCos1dOp extends OpBase {
  readonly op: "sincos_1d";
  readonly out: string;
  readonly count: number;
  readonly first: number;
  readonly scale: number;
  readonly width: number;
  /**
   * Only the rank's run of the `count` positions (DSP's frame shard: Latte adds the temporal table to the
   * residual stream while frames are sharded): `out` holds count / parts rows at positions (first + r·count /
   * parts + index) · scale, r being the rank's index along the axis.
   */
  readonly shard?: Shard;
}

/**
 * out[i] = values[i mod values.length] for `count` values: a per-run scalar model input the Spec fixes
 * (STDiT3's fps, models.md §5.4), written once in setup. The values are already rounded as the reference
 * rounds them (to the model dtype where it casts), so the op only stores.
 */
export interface ConstantOp extends OpBase {
  readonly op: "constant";
  readonly out: string;
  readonly values: readonly number[];
  readonly count: number;
}

/**
 * Joins matrices along the feature axis: out[r] = [parts[0][r] | parts[1][r] | ...] for `rows` rows, part i
 * `widths[i]` wide (PixArt-MS's `torch.cat([csize, ar], dim=1)` of its size embeddings, models.md §2.3).
 */
export interface ConcatOp extends OpBase {
  readonly op: "concat";
  readonly parts: readonly string[];
  readonly widths: readonly number[];
  readonly out: string;
  readonly rows: number;
}

/** out[r] = x[r] + table[(r / repeat) mod period] for `rows` rows: a table broadcast along the rows. */
export interface AddRowsOp extends OpBase {
  readonly op: "add_rows";
  readonly x: string;
  readonly table: string;
  readonly out: string;
  readonly rows: number;
  readonly width: number;
  readonly period: number;
  readonly repeat: number;
}

/**
 * Modulation rows out[s, k] = table[k] + source[s, k] (adaLN-single: table [chunks, width], source the
 * shared t_block output viewed [samples, chunks, width]), or table[k] + source[s] when `sourceChunks` is 1
 * (PixArt's final layer adds the raw timestep embedding to both rows). Without a table: a copy of source.
 */
export interface ModulationOp extends OpBase {
  readonly op: "modulation";
  readonly table?: string;
  readonly source: string;
  readonly out: string;
  readonly samples: number;
  readonly chunks: number;
  readonly sourceChunks: number;
  readonly width: number;
}

/** out = LN(x) · (1 + scale[s]) + shift[s]: LayerNorm without affine weights, then adaLN modulation. */
export interface LayerNormModulateOp extends OpBase {
  readonly op: "layernorm_modulate";
  readonly x: string;
  readonly out: string;
  readonly rows: number;
  readonly width: number;
  readonly eps: number;
  readonly rowsPerSample: number;
  readonly shift?: ModRef;
  readonly scale?: ModRef;
}

/** out = gate[s] · x, per sample (the adaLN gate of a branch). */
export interface GateOp extends OpBase {
  readonly op: "gate";
  readonly x: string;
  readonly gate: ModRef;
  readonly out: string;
  readonly rows: number;
  readonly width: number;
  readonly rowsPerSample: number;
}

/** A copy that permutes the axes of a 4-D view (rearranging `(B T S) D` into `(B S T) D` and back). */
export interface PermuteOp extends OpBase {
  readonly op: "permute";
  readonly x: string;
  readonly out: string;
  readonly dims: readonly [number, number, number, number];
  /** out axis i takes input axis perm[i]. */
  readonly perm: readonly [number, number, number, number];
}

/**
 * Softmax attention of each of `batch` sequences of `seq` tokens over itself, from packed qkv rows
 * ([batch·seq, 3·heads·headDim], feature index s·D + h·headDim + d for s in q, k, v) into [batch·seq,
 * heads·headDim]. Optional per-head RMSNorm of q and k, then rotary embedding of q and k over interleaved
 * pairs at positions 0..seq-1 (STDiT3's temporal attention, models.md §5.3). With `ring`, the sequence is
 * split over the ring group: K/V blocks travel the ring and partial results merge by log-sum-exp.
 */
export interface SelfAttentionOp extends OpBase {
  readonly op: "self_attention";
  readonly qkv: string;
  readonly out: string;
  readonly batch: number;
  readonly seq: number;
  readonly heads: number;
  readonly headDim: number;
  readonly scale: number;
  readonly qNorm?: { readonly weight: string; readonly eps: number };
  readonly kNorm?: { readonly weight: string; readonly eps: number };
  readonly rope?: { readonly theta: number };
  readonly ring?: GroupAxis;
  /** PipeFusion: K/V go through a buffer that outlives the step (see KvCacheRef). */
  readonly kvCache?: KvCacheRef;
  /**
   * Padded splits (`parallel.pad`): only the first `validKeys` keys of each sequence are real, counted over the
   * whole sequence: with `ring` the ring group's seq·R tokens in ring order (a rank's own chunk starts at its
   * ring coordinate · seq), with `kvCache` the buffer's `keys` rows. Keys at or past it get no weight, as if
   * absent; every query is still computed, the padded ones included (later ops drop their rows). Absent: every
   * key is real.
   */
  readonly validKeys?: number;
}

/**
 * PipeFusion's K/V buffer of one self-attention: [batch·keys, 2·heads·headDim], per row the key then the value
 * (after qNorm/kNorm; rope, where present, at positions offset + i). The op first writes the k and v of its own
 * `seq` tokens of sequence b into rows [b·keys + offset, b·keys + offset + seq), then attends its queries to all
 * `keys` rows of sequence b. Rows the op did not write hold what the last op to write them left: within a
 * pipelined step, the previous step's K/V of the bands not yet computed (stale K/V). Warm-up ops write every row
 * (seq = keys, offset 0).
 */
export interface KvCacheRef {
  readonly buffer: string;
  readonly keys: number;
  readonly offset: number;
}

/**
 * Cross-attention of each sample's query rows to its own text tokens: q [samples·queries, D], packed kv
 * [samples·keys, 2·D] (k then v), key mask [samples, keys] (1 = a real token); masked keys get no weight.
 * Without a mask every key is valid (the VAE decoder's mid-block attention: q a frame's pixels, kv all of them).
 */
export interface CrossAttentionOp extends OpBase {
  readonly op: "cross_attention";
  readonly q: string;
  readonly kv: string;
  readonly mask?: string;
  readonly out: string;
  readonly samples: number;
  readonly queries: number;
  readonly keys: number;
  readonly heads: number;
  readonly headDim: number;
  readonly scale: number;
}

/**
 * Tokens [samples, frames·rows·cols, pt·ph·pw·C] back to a latent [samples, C, T, H, W]: features ordered
 * (kt, kh, kw, c), channel fastest (models.md §0.5), cropped to the latent size where the family padded.
 */
export interface UnpatchifyOp extends OpBase {
  readonly op: "unpatchify";
  readonly x: string;
  readonly out: string;
  readonly samples: number;
  readonly channels: number;
  readonly grid: { readonly frames: number; readonly rows: number; readonly cols: number };
  readonly patch: { readonly t: number; readonly h: number; readonly w: number };
  readonly latent: { readonly frames: number; readonly height: number; readonly width: number };
  /**
   * PipeFusion: x holds only the tokens of this row band of the grid (every frame), and out only the latent rows
   * they cover: [samples, C, T, rows, W] with rows from index·(grid.rows/count)·patch.h, cropped to latent.height.
   */
  readonly band?: RowBand;
  /** x follows this padded token layout ([samples, frames·tokens, features]); its padding rows are skipped. */
  readonly padded?: PaddedTokens;
}

/**
 * All-to-all over a mesh axis on a 4-D view: dimension `scatter` is split into `degree` parts sent to the
 * group's ranks in order, and the parts received are concatenated along `gather`. Shapes are static.
 */
export interface AllToAllOp extends OpBase {
  readonly op: "all_to_all";
  readonly axis: GroupAxis;
  readonly x: string;
  readonly out: string;
  /** The input's 4-D view. */
  readonly dims: readonly [number, number, number, number];
  readonly scatter: number;
  readonly gather: number;
}

/** All-gather over a mesh axis on a 4-D view, concatenating the ranks' parts (in group order) along `dim`. */
export interface AllGatherOp extends OpBase {
  readonly op: "all_gather";
  readonly axis: GroupAxis;
  readonly x: string;
  readonly out: string;
  readonly dims: readonly [number, number, number, number];
  readonly dim: number;
}

/**
 * Classifier-free guidance on the model output [2·n, C, ...] whose first n samples are conditional and last n
 * unconditional: out[:, :mixed] = u + s·(c − u); the remaining prediction channels come from the conditional
 * half, and a learned-variance half (channels ≥ predictionChannels) is kept from the conditional half only when
 * `variance` is "cond".
 */
export interface GuidanceOp extends OpBase {
  readonly op: "guidance";
  readonly x: string;
  /** [samples, predictionChannels (+ predictionChannels with variance "cond"), plane]. */
  readonly out: string;
  readonly samples: number;
  /** Values per channel per sample (T·H·W). */
  readonly plane: number;
  readonly channels: number;
  readonly predictionChannels: number;
  readonly mixed: number;
  readonly variance: "drop" | "cond";
  /** The guidance scale s. */
  readonly scale: number;
}

/**
 * The sampler update of the latent, one op family per solver; the coefficients of each step come from the
 * plan's step table (steps[i].schedule), so the op itself holds none. The prediction buffer holds, per sample,
 * `stride` channels of `plane` values: the first `channels` are the prediction (eps or velocity) and, with
 * `learnedVariance`, the next `channels` are IDDPM's learned-range variance values.
 */
export interface SolverOp extends OpBase {
  readonly op: "solver_update";
  readonly solver: "ddpm" | "ddim" | "dpmpp2m" | "flow-euler";
  readonly latent: string;
  readonly prediction: string;
  readonly learnedVariance: boolean;
  /** DPM-Solver++ 2M: the previous step's data prediction, updated in place. */
  readonly history?: string;
  readonly samples: number;
  readonly channels: number;
  readonly stride: number;
  readonly plane: number;
  /** Noise drawn by ancestral and eta > 0 steps comes from this seed, the step index and the global sample. */
  readonly noiseSeed: number;
  /**
   * PipeFusion: update only latent rows [first, first + count) of every (sample, channel, frame) plane of
   * `height` rows of `width` values. The latent and history keep their whole shape; `plane` and the prediction
   * cover the band only (plane = frames·count·width). Noise is drawn as for the whole latent, by element.
   */
  readonly band?: { readonly first: number; readonly count: number; readonly height: number; readonly width: number };
}

/** [first, first + count) along axis `dim` of a 4-D view. */
export interface ViewSlice {
  readonly dim: number;
  readonly first: number;
  readonly count: number;
}

/**
 * Point-to-point send of `x`, viewed as `dims` (only `slice` of it when given, in row-major order), to the
 * neighbour `peer` of the rank's group on `axis` (ring order: the last rank's next is the first). Static shapes:
 * the receiver's `recv` declares the same message. Asynchronous: the rank goes on at once; x must not change
 * until the transfer completes, which the runtime ensures before the next step begins (the memory plan keeps
 * x's space reserved to the end of the op's phase). Sends and receives between two ranks on one axis match in
 * program order; the runtime keeps each direction on its own stream (for two stages both directions join the
 * same pair of ranks: xDiT makes a communicator per direction there, xdit.md §2.2).
 */
export interface SendOp extends OpBase {
  readonly op: "send";
  readonly axis: GroupAxis;
  readonly peer: "next" | "prev";
  readonly x: string;
  readonly dims: readonly [number, number, number, number];
  readonly slice?: ViewSlice;
}

/**
 * Point-to-point receive into `out` (viewed as `dims`, only `slice` of it when given) from the neighbour
 * `peer` on `axis`. Pre-posted: when a rank starts the ops of a phase it posts the receives of that phase in
 * program order, and the op itself waits for its data; the memory plan reserves `out` from the phase's first op.
 */
export interface RecvOp extends OpBase {
  readonly op: "recv";
  readonly axis: GroupAxis;
  readonly peer: "next" | "prev";
  readonly out: string;
  readonly dims: readonly [number, number, number, number];
  readonly slice?: ViewSlice;
}

/** The communicator group of the VAE decode's patch split (mesh.groups.decode): its members hold one band each. */
export interface DecodeGroupRef {
  readonly axis: "decode";
}

/**
 * 2-D convolution, stride 1, of an NHWC activation [frames, height, width, inChannels] into [frames, height,
 * width, outChannels] with the official weight layout [outChannels, inChannels, kernel, kernel] and an optional
 * bias. Kernel 3 pads with zeros at the image border (padding 1); kernel 1 is a per-pixel projection. With
 * `halo`, `height` is this rank's band of image rows: the op first exchanges one row with each neighbour of the
 * decode group (the previous member's last row above, the next member's first row below; zeros above the first
 * member and below the last), so the band's result equals those rows of the whole image's convolution.
 */
export interface Conv2dOp extends OpBase {
  readonly op: "conv2d";
  readonly x: string;
  readonly weight: string;
  readonly bias?: string;
  readonly out: string;
  readonly frames: number;
  readonly height: number;
  readonly width: number;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernel: 1 | 3;
  readonly halo?: DecodeGroupRef;
}

/**
 * GroupNorm of an NHWC activation [frames, height, width, channels]: per (frame, group of channels/groups
 * channels) the mean and variance over height·width·channels/groups values, then the affine weight and bias
 * [channels], then SiLU when `silu`. With `reduce`, the statistics cover the rows of every member of the decode
 * group (each member holds a band of rows), computed exactly as one rank computes them over the whole image:
 * each image row's partial sums in double, summed in global row order.
 */
export interface GroupNormOp extends OpBase {
  readonly op: "group_norm";
  readonly x: string;
  readonly weight: string;
  readonly bias: string;
  readonly out: string;
  readonly frames: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly groups: number;
  readonly eps: number;
  readonly silu: boolean;
  readonly reduce?: DecodeGroupRef;
}

/** Nearest-neighbour upsampling of [frames, height, width, channels] to [frames, factor·height, factor·width, channels]. */
export interface UpsampleNearestOp extends OpBase {
  readonly op: "upsample_nearest";
  readonly x: string;
  readonly out: string;
  readonly frames: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly factor: number;
}

export type Op =
  | TimestepEmbedOp
  | LinearOp
  | SiluOp
  | AddOp
  | EmbeddingOp
  | PatchEmbedOp
  | SinCos2dOp
  | SinCos1dOp
  | ConstantOp
  | ConcatOp
  | AddRowsOp
  | ModulationOp
  | LayerNormModulateOp
  | GateOp
  | PermuteOp
  | SelfAttentionOp
  | CrossAttentionOp
  | UnpatchifyOp
  | AllToAllOp
  | AllGatherOp
  | GuidanceOp
  | SolverOp
  | SendOp
  | RecvOp
  | Conv2dOp
  | GroupNormOp
  | UpsampleNearestOp;

export type OpName = Op["op"];

/** An op without its position; lowering builds these and the program builder numbers them. */
export type OpInit = Op extends infer O ? (O extends Op ? Omit<O, "id"> : never) : never;
