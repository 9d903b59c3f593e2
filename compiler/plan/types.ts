/**
 * The Plan: the contract between the compiler and the runtime (../shared/DESIGN.md, "The Plan"). It is plain,
 * versioned, deterministic JSON: everything a rank must decide at run time is decided here or is a table here.
 *
 * One program serves every rank. Where ranks differ (which frames, tokens or samples they hold, which
 * pipeline stage they are), an op says so symbolically with a `Shard` (an axis and its number of parts), and a
 * rank resolves it with its own coordinate from `mesh`; so the plan stays the same size whatever the world.
 */
import type { Axis } from "../../grammar/expr/types.js";
import type { Mesh } from "../lower/mesh.js";
import type { Hyper } from "../models/types.js";
import type { Family } from "../spec/schema.js";
import type { Solver, StepEntry } from "../schedule/step-table.js";
import type { Op } from "./ops.js";

export const PLAN_FORMAT = "opendit-plan";
export const PLAN_VERSION = 1;

export type PlanDtype = "f32" | "bf16" | "f16" | "i32";

/**
 * What a buffer is for, which decides its lifetime: `input` (written by the runtime before the step loop:
 * noise, text features, masks, labels), `table` (computed once by the setup program: positional tables, the
 * text projection), `state` (carried from step to step: the latent, solver history), `cache` (PAB and MLP
 * broadcast outputs, kept between steps), `activation` (lives within one step; shares arena space by liveness),
 * `output` (written at the end: the final latent).
 */
export type BufferRole = "input" | "table" | "state" | "cache" | "activation" | "output";

export interface PlanBuffer {
  readonly name: string;
  /** Local shape on one rank. */
  readonly shape: readonly number[];
  readonly dtype: PlanDtype;
  readonly role: BufferRole;
  /** Byte offset in the rank's arena (activations share offsets when their lifetimes do not overlap). */
  readonly offset: number;
  readonly bytes: number;
  /** Step-program op ids of the first write and the last read (activations only). */
  readonly live?: readonly [number, number];
  /** PipeFusion: the only pipeline stages whose ops use it (all when absent); other stages' buffers may share its bytes. */
  readonly stages?: readonly number[];
}

/** One checkpoint tensor the plan reads, by its official name. */
export interface PlanWeight {
  readonly name: string;
  readonly shape: readonly number[];
  /** The dtype the runtime stores it in (the checkpoint is converted on load). */
  readonly dtype: PlanDtype;
  /** Pipeline stages that read it (all when absent). */
  readonly stages?: readonly number[];
  /**
   * Other official names of the same tensor, which a loader accepts as well (the VAE decoder's original LDM
   * names, whose shape may differ only by trailing 1s: a 1x1 convolution's [512, 512, 1, 1] for a Linear's
   * [512, 512]). Absent when the tensor has one name.
   */
  readonly aliases?: readonly string[];
}

/** A part of a dimension that depends on the rank: `parts` equal parts along a mesh axis (or group). */
export interface Shard {
  readonly axis: Axis | "sequence";
  readonly parts: number;
}

/**
 * One dimension a layout pads so that it splits evenly over `parts` ranks (the Spec's `parallel.pad` for
 * frames and tokens, `pad_heads` for heads): the ops run on `to` where the model has `from`, padded positions
 * are masked as attention keys (zero heads carry nothing), and the outputs drop them.
 */
export interface PlanPadding {
  /** `frames`: token frames (DSP); `tokens`: tokens per frame (DSP, Ulysses x Ring); `heads`: attention heads (Ulysses). */
  readonly dim: "frames" | "tokens" | "heads";
  readonly from: number;
  /** from rounded up to a multiple of parts. */
  readonly to: number;
  readonly parts: number;
  /** (to − from) / to: the share of that dimension computed and thrown away. */
  readonly wasted: number;
}

export interface PlanStep {
  /** Sampler coefficients and the model timestep of this step (schedule/step-table.ts). */
  readonly schedule: StepEntry;
  /** The compute/reuse pattern id (PAB); the CUDA backend captures one graph per pattern. */
  readonly pattern: number;
}

export interface PlanPattern {
  readonly id: number;
  /** Attention kinds reused (their ops, and the collectives tagged with them, are skipped). */
  readonly reuse: readonly string[];
  /** Blocks whose MLP output is reused, as "spatial:3". */
  readonly mlpReuse: readonly string[];
  /** Blocks whose MLP output is computed and kept for later steps. */
  readonly mlpKeep: readonly string[];
  readonly steps: number;
  /** PipeFusion: the phase of its steps; only ops of this phase (or of none) run. */
  readonly phase?: "warmup" | "pipelined";
  /** PipeFusion: stage 0 receives the latent rows the last stage sent at the end of the previous step. */
  readonly latentIn?: boolean;
  /** PipeFusion: the last stage sends the updated latent rows to stage 0 (every step but the last). */
  readonly latentOut?: boolean;
}

export interface PlanInput {
  readonly buffer: string;
  /** Sample rows of the buffer this entry fills: [first, first + count). */
  readonly rows: { readonly first: number; readonly count: number };
  /** Only ranks with this cfg coordinate fill it (CFG parallel: 0 holds the conditional, 1 the unconditional). */
  readonly cfgRank?: 0 | 1;
  /**
   * Where the runtime takes it from: `noise` (seeded Gaussian, the same generator on every backend and
   * rank count, or the Spec's noise file), `text` (prompt features, from the encoder or the embeddings file's
   * `y`; on the unconditional rows of a negative-prompt family the negative prompt's, from the encoder or the
   * file's `negative_y`), `text-mask` (its mask, also used for the null caption or negative prompt it is paired
   * with), `null-text` (the checkpoint's stored null caption), `labels`, `null-labels`, `timestep` (the step
   * table's timestep, every step).
   */
  readonly source: "noise" | "text" | "text-mask" | "null-text" | "labels" | "null-labels" | "timestep";
  /** Which of the run's samples fill the rows: a data-parallel rank takes its part. */
  readonly samplesShard?: Shard;
}

export interface Plan {
  readonly format: typeof PLAN_FORMAT;
  readonly version: typeof PLAN_VERSION;
  /** sha256 of the canonical JSON of every other field. */
  readonly hash: string;
  readonly name: string;
  readonly model: {
    readonly family: Family;
    readonly title: string;
    readonly variant?: string;
    readonly checkpoint: string;
    readonly weightsSeed: number;
    readonly dtype: "fp32" | "fp16" | "bf16";
    readonly hyper: Hyper;
  };
  readonly geometry: {
    readonly frames: number;
    readonly height: number;
    readonly width: number;
    readonly latent: { readonly channels: number; readonly frames: number; readonly height: number; readonly width: number };
    readonly tokens: { readonly frames: number; readonly rows: number; readonly cols: number };
    /** Samples (prompts or labels) of the whole run. */
    readonly samples: number;
    /** Samples per rank in the model batch, conditional and unconditional together. */
    readonly batch: number;
  };
  readonly mesh: Mesh;
  readonly schedule: {
    readonly kind: string;
    readonly solver: Solver;
    readonly trainSteps: number;
    readonly guidance: { readonly scale: number; readonly mixed: number; readonly variance: "drop" | "cond" } | null;
  };
  readonly weights: readonly PlanWeight[];
  readonly buffers: readonly PlanBuffer[];
  /** Bytes of the arena each rank allocates before the step loop. */
  readonly arenaBytes: number;
  readonly inputs: readonly PlanInput[];
  /** `stage`: PipeFusion, the pipeline stage whose ranks hold the final value (the last). */
  readonly outputs: readonly { readonly buffer: string; readonly name: string; readonly stage?: number }[];
  /** `setup` runs once before the step loop; `step` once per step. */
  readonly program: { readonly setup: readonly Op[]; readonly step: readonly Op[] };
  readonly patterns: readonly PlanPattern[];
  readonly steps: readonly PlanStep[];
  /** What the layout pads to split evenly; absent when every split is even. */
  readonly padding?: readonly PlanPadding[];
  readonly cost: PlanCost;
  /** The VAE decode of the final latent into pixels; absent when nothing is decoded (latents only, or no VAE). */
  readonly decode?: PlanDecode;
}

/** The VAEs whose decoder the plan lowers (the SD-VAE decoder, models.md §10.1). */
export type DecodedVae = "sd-vae-ft-ema" | "sd-vae-ft-mse" | "sdxl-vae";

/**
 * How the decode work is split: `whole` (one rank decodes whole frames), `tiled` (one rank decodes overlapping
 * tiles, blended by the runtime with linear ramps over the overlap; sizes in latent pixels, `rows`/`cols` the
 * latent-pixel starts of the tiles, the last aligned to the edge so every tile has the same size), or `patch`
 * (the latent rows split evenly over the `parts` members of each decode group, member r holding rows
 * [r·h/parts, (r+1)·h/parts); convolutions exchange halo rows and GroupNorm statistics are reduced exactly).
 */
export type DecodeSplit =
  | { readonly kind: "whole" }
  | {
      readonly kind: "tiled";
      readonly tile: { readonly height: number; readonly width: number };
      readonly overlap: number;
      readonly rows: readonly number[];
      readonly cols: readonly number[];
    }
  | { readonly kind: "patch"; readonly axis: "decode"; readonly parts: number };

/** The decode program's time and memory on one rank of the plan's GPU profile (compiler/lower/decode/cost.ts). */
export interface DecodeCost {
  readonly flopsPerPass: number;
  readonly secondsPerPass: number;
  /** secondsPerPass × passes × samples. */
  readonly totalSeconds: number;
  /** The decode's arena plus its weights: after the denoising loop releases its own memory. */
  readonly peakBytesPerRank: number;
}

/**
 * The VAE decode (../shared/DESIGN.md; the contract in .helpers/vae-contract.md): after the step loop, each rank
 * of `ranks` releases the DiT's memory and runs `program` `passes` times per sample over a fresh arena of its own
 * (`buffers`, `arenaBytes`) and the decoder's `weights`. Activations are NHWC: [frames, height, width, channels];
 * every decode buffer and weight is stored in `dtype`. Before a pass the runtime fills `input` with the pass's
 * latent / `scale`; after it, it reads `output`, pixels about [-1, 1].
 */
export interface PlanDecode {
  readonly vae: DecodedVae;
  /** The Spec's vae.checkpoint as written (relative to the pipeline file, as the model's), `random`, or "" when the Spec names none (the checker refuses to run that). */
  readonly checkpoint: string;
  /** Seed of `random` VAE weights (opendit-random-v1 over the decoder's names and shapes). */
  readonly weightsSeed: number;
  readonly dtype: "f32" | "bf16" | "f16";
  /** The decoder's input is latent / scale (0.18215). */
  readonly scale: number;
  /** One sample's final latent. */
  readonly latent: { readonly channels: number; readonly frames: number; readonly height: number; readonly width: number };
  /** 8 × the latent's height and width. */
  readonly image: { readonly height: number; readonly width: number };
  /** Samples each decode group decodes: the run's samples / the dp degree. */
  readonly samples: number;
  /** Frames one pass decodes together (the program's batch). */
  readonly framesPerPass: number;
  readonly split: DecodeSplit;
  /** Program runs per sample: ceil(frames / framesPerPass) × (tiles, or 1). */
  readonly passes: number;
  /**
   * Global ranks that decode: whole and tiled, one rank per dp group (the one that returns the outputs); patch,
   * every rank of each decode group.
   */
  readonly ranks: readonly number[];
  /** The decoder's tensors by their diffusers names, with their other official names as `aliases`. */
  readonly weights: readonly PlanWeight[];
  /** The decode arena's buffers: `input` and `output` for the whole pass, activations by liveness over `program`. */
  readonly buffers: readonly PlanBuffer[];
  readonly arenaBytes: number;
  /** [framesPerPass, hIn, wIn, latent channels]: the pass's latent / scale. */
  readonly input: string;
  /** [framesPerPass, 8·hIn, 8·wIn, 3]: the decoded pixels. */
  readonly output: string;
  /** One pass (op ids 0..n-1). */
  readonly program: readonly Op[];
  readonly cost: DecodeCost;
}

/** One step of a pattern on one rank (compiler/cost/plan-cost.ts). */
export interface PatternCostSummary {
  readonly id: number;
  readonly flops: number;
  /** Bytes read and written in device memory. */
  readonly bytes: number;
  /** Bytes the rank sends to other ranks. */
  readonly commBytes: number;
  /** Estimated seconds, ops summed without overlap. */
  readonly seconds: number;
}

/** The time and memory estimate of the plan on one rank of its GPU. */
export interface PlanCost {
  /** The GPU profile estimated for (the Spec's runtime.gpu, h100 by default). */
  readonly gpu: string;
  /** FLOPs of one step when every op computes (no PAB reuse). */
  readonly flopsPerStep: number;
  readonly perPattern: readonly PatternCostSummary[];
  /** The setup program, run once, and the first exchange with each peer (compiler/cost/plan-cost.ts). */
  readonly setupSeconds: number;
  /** setupSeconds + the sum over patterns of seconds × steps. */
  readonly totalSeconds: number;
  /** Weights the rank holds plus its arena. */
  readonly peakBytesPerRank: number;
}
