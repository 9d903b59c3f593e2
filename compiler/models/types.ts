/**
 * What the compiler knows about a model family: its sizes, conditioning, attention kinds, sampler, latent
 * geometry, limits and checkpoint tensors. Families are data (one file each under compiler/models); rules and
 * lowering ask these records and never test a family's name.
 */
import type { Family, SchedulerKind, VaeKind } from "../spec/schema.js";

export type AttentionKind = "spatial" | "temporal" | "cross";
export type BlockKind = "spatial" | "temporal";

/** Hyperparameters as a user or a variant table may give them; missing ones take the family defaults. */
export interface HyperInput {
  readonly hidden: number;
  readonly depth: number;
  readonly heads: number;
  readonly patch?: number;
  readonly patch_t?: number;
  readonly in_channels?: number;
  readonly learn_sigma?: boolean;
  readonly mlp_ratio?: number;
  readonly caption_channels?: number;
  readonly text_tokens?: number;
  readonly num_classes?: number;
  /**
   * PixArt-MS: resolution and aspect-ratio embedders added to the timestep embedding (models.md §2.3). Named
   * variants set it; the Spec's explicit `hyper` has no such field, so custom sizes never have them.
   */
  readonly size_embedders?: boolean;
}

/** Fully resolved hyperparameters. */
export interface Hyper {
  readonly hidden: number;
  /** Blocks of each kind (spatial-temporal families have `depth` spatial and `depth` temporal blocks). */
  readonly depth: number;
  readonly heads: number;
  readonly headDim: number;
  readonly patch: number;
  readonly patchT: number;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly mlpHidden: number;
  /** Text feature channels (0 for families without text). */
  readonly captionChannels: number;
  /** Text tokens cross-attention reads (0 for families without text). */
  readonly textTokens: number;
  /** Classes without the null class (0 for families without labels, and for unconditional checkpoints). */
  readonly numClasses: number;
  /** Whether the model has PixArt-MS size embedders (`csize_embedder`, `ar_embedder`). */
  readonly sizeEmbedders: boolean;
}

/** One checkpoint tensor, by its official name. */
export interface WeightInfo {
  readonly name: string;
  readonly shape: readonly number[];
}

/** Latent and token geometry of one pipeline size. */
export interface Geometry {
  /** Latent frames (1 for images). */
  readonly latentFrames: number;
  readonly latentHeight: number;
  readonly latentWidth: number;
  /** Token grid: frames x rows x cols after patching (rows/cols include any padding the family applies). */
  readonly tokenFrames: number;
  readonly tokenRows: number;
  readonly tokenCols: number;
}

export interface ModelFamily {
  readonly family: Family;
  /** Human name, with the reference it follows: "Open-Sora 1.0 STDiT". */
  readonly title: string;
  readonly kind: "image" | "video";
  /**
   * How blocks are arranged: `single` (one block kind: DiT, PixArt), `joint` (each block holds spatial and
   * temporal attention: STDiT 1.0), `interleaved` (separate spatial and temporal blocks: Latte, STDiT3).
   */
  readonly blocks: "single" | "joint" | "interleaved";
  /** Attention kinds the blocks have; PAB may only name these. */
  readonly attention: readonly AttentionKind[];
  /**
   * The block kinds that hold each attention kind (`single` and `joint` families count their one block kind
   * as `spatial`). Cross-attention is where interleaved families differ: STDiT3 has it in both kinds,
   * Latte-T2V and Open-Sora-Plan only in spatial blocks. PAB caches are counted over these blocks.
   */
  readonly attentionBlocks: Readonly<Partial<Record<AttentionKind, readonly BlockKind[]>>>;
  /**
   * Which timestep the reference's PAB test compares against the window: the sampler's value, or the value
   * after the model's forward casts it to the weights' dtype (lower/pab-timestep.ts says why this matters).
   */
  readonly pabTimestep: "model-dtype" | "scheduler";
  /**
   * Attention kinds whose q and k get rotary position embeddings over interleaved channel pairs (STDiT3:
   * temporal), so the head size must be even; absent when the family uses none.
   */
  readonly rope?: readonly AttentionKind[];
  /** Block kinds whose MLP output MLP broadcast may reuse. */
  readonly mlpBlockKinds: readonly BlockKind[];
  /** What the samples are conditioned on. */
  readonly conditioning: "text" | "class" | "class-or-none";
  /**
   * The unconditional branch of guidance: the stored null caption, the null class, the text encoding of a
   * negative prompt, or none at all.
   */
  readonly uncond: "null-caption" | "null-class" | "negative-prompt" | "none";
  /** What the model predicts: noise (with learned variance) or a rectified-flow velocity. */
  readonly prediction: "eps" | "flow";
  /** Samplers that fit how the family was trained. */
  readonly samplers: readonly SchedulerKind[];
  /**
   * Output channels official guidance mixes on the IDDPM code path (`forward_with_cfg`: DiT, STDiT 1.0 and
   * PixArt guide only the first 3), or all latent channels; other samplers mix all (schedule/guidance.ts).
   */
  readonly cfgChannels: number | "all";
  /** Named sizes; the first is the default. */
  readonly variants: Readonly<Record<string, HyperInput>>;
  /** Defaults the reference inference scripts use. */
  readonly defaults: {
    readonly scheduler: SchedulerKind;
    readonly steps: number;
    readonly guidance: number;
    readonly vae: VaeKind;
  };
  /** VAEs whose latent space the family was trained in. */
  readonly vaes: readonly VaeKind[];
  /** The temporal compression of the family's VAE: latent frames for a frame count, or an error message. */
  latentFrames(frames: number): number | string;
  /** Height and width must be multiples of this (VAE factor x patch, unless the family pads). */
  pixelDivisor(hyper: Hyper): number;
  /** Token geometry for a size (images: frames = 1). */
  geometry(hyper: Hyper, size: { frames: number; height: number; width: number }): Geometry;
  /**
   * Where the official weights of a named variant come from (a file name such as
   * `OpenSora-v1-HQ-16x512x512.pth`, or a hub repository), keyed by variant; used in hints about missing
   * checkpoints. Absent when the family publishes none.
   */
  readonly officialWeights?: Readonly<Record<string, string>>;
  /** Sizes the official checkpoints were trained at, for a warning (empty when any size is fine). */
  readonly trainedSizes?: readonly { readonly frames?: number; readonly height: number; readonly width: number }[];
  /** Resolve a variant or explicit hyperparameters into full hyperparameters. */
  resolve(input: HyperInput): Hyper;
  /** Every checkpoint tensor the model reads, by official name and shape. */
  weights(hyper: Hyper): WeightInfo[];
  /**
   * Names an official checkpoint may also hold that the runtime does not read: fixed sin-cos tables sized to
   * the training resolution, which the runtime recomputes for the actual size (models.md §13.1), and unused
   * buffers. A strict loader skips these instead of calling them unexpected.
   */
  readonly skippedTensors?: readonly string[];
}
