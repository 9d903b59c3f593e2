/**
 * The memory estimate of one rank: what a pipeline holds on each GPU at its peak, in bytes, split into parts a
 * person can act on (weights, activations, PAB caches, the text encoder, the VAE decode, a runtime reserve).
 *
 * The model, one line of why per term:
 * - weights: paramCount(family.weights(hyper)) x dtype bytes; a PipeFusion stage holds only its share of the
 *   blocks (ceil(blocks / pipefusion) of them) plus the embedders and final layer, which stay replicated.
 * - textEncoder: T5-v1.1-XXL's encoder (4.76 B parameters, bf16) when the rank encodes prompts itself (a text
 *   family given `prompts` and no precomputed `embeddings`); the reference pipelines keep it resident.
 * - vaeWeights: the VAE decoder's parameters x dtype bytes (only the decoder runs for text/class-to-video).
 * - activations: one block at its peak, flash attention assumed (no score matrix): per token the residual (D),
 *   the modulated input (D), q, k and v (3D), the attention output (D) and the MLP hidden (mlp), for the tokens
 *   this rank holds (the sequence split by dsp or ulysses x ring, then by PipeFusion patches for the patch in
 *   flight) and its local batch (samples per dp rank, x2 for guidance unless cfg parallel splits the halves).
 * - pipefusionKv: a PipeFusion stage keeps the full-sequence K and V of its blocks from the previous step
 *   (stale K/V stand in for patches not yet computed); Ulysses leaves it head-sharded, Ring sequence-sharded.
 * - pabCache: one cached attention output (D wide, the rank's local tokens and batch) per block per attention
 *   kind that has a PAB window; VideoSys keeps them until overwritten (opendit-videosys.md §1.2).
 * - mlpCache: one kept MLP output per broadcast block for every kept step still being reused, counted at the
 *   step where most are alive (VideoSys frees an entry after its last reuse, §1.3).
 * - latents: the latent, the next latent and the model output (both guidance halves) in fp32, where the
 *   scheduler works.
 * - vaeDecode: decoding one frame (or one tile) at a time, whose peak is about three 256-channel feature maps
 *   at full resolution (the SD-VAE decoder's last up blocks), plus the decoded video; the patch split
 *   (`vae.parallel: patch`, the default where it applies) splits the rows over the ranks that hold the same
 *   samples. Whether and how the run decodes is lower/decode/settings.ts's answer, the lowering's own: nothing
 *   is decoded when the output is latents only (the default) or the VAE is `none`.
 * - reserve: the CUDA context, cuBLAS/attention workspaces and allocator slack: a fixed 1.5 GiB.
 * The denoising loop and the VAE decode do not overlap, so the total is the resident part (weights, encoders,
 * latents, reserve) plus the larger of the two phases.
 */
import type { Facts } from "../check/facts.js";
import { decodeDtype, decodeGroupSize, decodeVaeKind, defaultParallel, tilingOf } from "../lower/decode/settings.js";
import { DTYPE_BYTES } from "../plan/memory.js";
import { paramCount } from "../models/common.js";
import type { AttentionKind, BlockKind, Hyper, ModelFamily } from "../models/types.js";
import type { Dtype, Spec, VaeKind } from "../spec/schema.js";

export const GiB = 1024 ** 3;

/** T5-v1.1-XXL encoder parameters: 24 layers of 4 x 4096^2 + 3 x 4096 x 10240, plus the 32128 x 4096 embedding. */
export const T5_XXL_ENCODER_PARAMS = 4.76e9;

/** CUDA context, library workspaces and allocator slack. */
export const RUNTIME_RESERVE_BYTES = 1.5 * GiB;

/**
 * VAE decoder parameters. SD-VAE (and SDXL-VAE, the same architecture): about 49.5 M in the decoder and its
 * post-quant conv. Open-Sora 1.2: the SDXL decoder plus its temporal decoder (about 165 M, derived from the
 * layer list in models.md §10.2). CausalVAE 4x8x8: the SD-VAE decoder with 3x3x3 kernels, about three times it.
 */
export const VAE_DECODER_PARAMS: Readonly<Record<VaeKind, number>> = {
  "sd-vae-ft-ema": 49.5e6,
  "sd-vae-ft-mse": 49.5e6,
  "sdxl-vae": 49.5e6,
  "opensora-vae-v1.2": 214.5e6,
  "causalvae-4x8x8": 148e6,
  none: 0,
};

/** Feature channels alive at the VAE decoder's peak, per output pixel (three 256-channel maps). */
const VAE_PEAK_CHANNELS = 3 * 256;

export function dtypeBytes(dtype: Dtype | undefined): number {
  return dtype === "fp32" ? 4 : 2;
}

export interface MemoryParts {
  /** DiT weights this rank holds. */
  readonly weights: number;
  /** T5-XXL encoder weights, when prompts are encoded on the rank (else 0). */
  readonly textEncoder: number;
  /** VAE decoder weights (0 without a VAE). */
  readonly vaeWeights: number;
  /** One block's activations at peak. */
  readonly activations: number;
  /** PipeFusion's stale K/V buffer (0 without PipeFusion). */
  readonly pipefusionKv: number;
  /** PAB attention caches. */
  readonly pabCache: number;
  /** MLP broadcast caches. */
  readonly mlpCache: number;
  /** Latents and model output in fp32. */
  readonly latents: number;
  /** The VAE decode's peak (0 without a VAE). */
  readonly vaeDecode: number;
  /** Fixed runtime reserve. */
  readonly reserve: number;
}

export interface MemoryEstimate {
  readonly parts: MemoryParts;
  /** Peak bytes per rank. */
  readonly total: number;
  /** Which phase sets the peak: the denoising loop or the VAE decode. */
  readonly peakPhase: "denoise" | "decode";
  /** Tokens of the sequence this rank holds (before PipeFusion's patching). */
  readonly localTokens: number;
  /** Batch one forward pass runs on this rank. */
  readonly localBatch: number;
}

/** Parameters of the blocks alone, from the difference between the model at depth d and at depth d - 1. */
function blockParams(family: ModelFamily, hyper: Hyper, total: number): number {
  if (hyper.depth >= 2) return hyper.depth * (total - paramCount(family.weights({ ...hyper, depth: hyper.depth - 1 })));
  const two = paramCount(family.weights({ ...hyper, depth: 2 }));
  return two - total;
}

/** Blocks a PipeFusion stage can hold (interleaved families count spatial and temporal blocks apart). */
function blockUnits(family: ModelFamily, hyper: Hyper): number {
  return family.blocks === "interleaved" ? 2 * hyper.depth : hyper.depth;
}

/** The most MLP outputs alive at once for one block: kept steps whose reuse span covers the same step. */
function mlpAlive(steps: readonly number[], reuse: number, totalSteps: number): number {
  let most = 0;
  for (let i = 0; i < totalSteps; i++) {
    let alive = 0;
    for (const s of steps) if (s < totalSteps && s <= i && i <= s + reuse) alive++;
    most = Math.max(most, alive);
  }
  return most;
}


/**
 * The peak memory of one rank for this Spec, or undefined when a fact it needs (family, hyperparameters,
 * geometry, size) is missing.
 */
export function estimateMemory(spec: Spec, facts: Facts): MemoryEstimate | undefined {
  const { family, hyper, geometry, size, degrees } = facts;
  if (!family || !hyper || !geometry || !size) return undefined;
  const bytes = dtypeBytes(spec.model.dtype);
  const D = hyper.hidden;

  // Weights: a PipeFusion stage holds its share of the blocks.
  const allParams = paramCount(family.weights(hyper));
  const blocks = Math.min(allParams, Math.max(0, blockParams(family, hyper, allParams)));
  const units = blockUnits(family, hyper);
  const stages = Math.max(1, Math.min(degrees.pipefusion, units));
  const stageShare = Math.ceil(units / stages) / units;
  const weights = (allParams - blocks + blocks * stageShare) * bytes;

  // Samples and the batch one forward pass runs.
  const c = spec.conditioning;
  const samples = c?.prompts?.length ?? c?.labels?.length ?? 1;
  const samplesPerRank = Math.ceil(samples / Math.max(1, degrees.dp));
  const guidanceHalves = facts.cfg && degrees.cfg < 2 ? 2 : 1;
  const localBatch = samplesPerRank * guidanceHalves;

  // Tokens this rank holds.
  const tokens = geometry.tokenFrames * geometry.tokenRows * geometry.tokenCols;
  const sequenceDegree = Math.max(1, degrees.dsp * degrees.ulysses * degrees.ring);
  const localTokens = Math.ceil(tokens / sequenceDegree);
  const patches = degrees.pipefusion > 1 ? Math.max(1, spec.parallel?.pipefusion?.patches ?? degrees.pipefusion) : 1;
  const tokensInFlight = Math.ceil(localTokens / patches);

  const perToken = D + D + 3 * D + D + hyper.mlpHidden;
  const activations = tokensInFlight * localBatch * perToken * bytes;

  const pipefusionKv =
    degrees.pipefusion > 1
      ? 2 * Math.ceil(tokens / Math.max(1, degrees.ring)) * Math.ceil(D / Math.max(1, degrees.ulysses)) * localBatch * Math.ceil(units / stages) * bytes
      : 0;

  // PAB caches: one D-wide local activation per block holding a windowed attention kind (STDiT3's
  // cross-attention sits in both its spatial and its temporal blocks, so it caches twice as many).
  const oneCache = localTokens * localBatch * D * bytes;
  let pabCache = 0;
  for (const kind of family.attention as readonly AttentionKind[]) {
    const w = facts.windows[kind];
    const hostKinds = family.attentionBlocks[kind]?.length ?? 1;
    if (w?.kind === "window") pabCache += hostKinds * hyper.depth * oneCache;
  }
  let mlpCache = 0;
  const mlp = spec.acceleration?.pab?.mlp;
  for (const kind of ["spatial", "temporal"] as const satisfies readonly BlockKind[]) {
    const m = mlp?.[kind];
    if (!m || !family.mlpBlockKinds.includes(kind)) continue;
    const validBlocks = m.blocks.filter((b) => b < hyper.depth).length;
    mlpCache += validBlocks * mlpAlive(m.steps, m.reuse, spec.scheduler.steps) * oneCache;
  }

  // Latents: x, the next x and the model output of both guidance halves, in fp32.
  const latentVolume = geometry.latentFrames * geometry.latentHeight * geometry.latentWidth;
  const latents = samplesPerRank * (2 * hyper.inChannels + guidanceHalves * hyper.outChannels) * latentVolume * 4;

  // The VAE decode, in its own dtype (a VAE without a decoder is counted in the model's).
  const vaeKind: VaeKind = decodeVaeKind(spec, family) ?? "none";
  const vaeBytes = vaeKind === "none" ? bytes : DTYPE_BYTES[decodeDtype(spec, vaeKind)];
  const vaeWeights = VAE_DECODER_PARAMS[vaeKind] * vaeBytes;
  let vaeDecode = 0;
  if (vaeKind !== "none") {
    let rows = size.height;
    let cols = size.width;
    const tiling = tilingOf(spec);
    if (tiling) {
      rows = Math.min(rows, tiling.tile);
      cols = Math.min(cols, tiling.tile);
    }
    const parts = decodeGroupSize(degrees);
    const parallel = spec.vae?.parallel ?? defaultParallel(spec, facts, geometry.latentHeight);
    if (parallel === "patch" && parts > 1) rows = Math.ceil(rows / parts);
    const featurePeak = VAE_PEAK_CHANNELS * rows * cols * vaeBytes;
    const video = size.frames * 3 * size.height * size.width * vaeBytes;
    vaeDecode = featurePeak + video;
  }

  const textEncoder =
    family.conditioning === "text" && c?.prompts !== undefined && c.embeddings === undefined ? T5_XXL_ENCODER_PARAMS * 2 : 0;
  const reserve = RUNTIME_RESERVE_BYTES;

  const denoise = activations + pipefusionKv + pabCache + mlpCache;
  const total = weights + textEncoder + vaeWeights + latents + reserve + Math.max(denoise, vaeDecode);
  return {
    parts: { weights, textEncoder, vaeWeights, activations, pipefusionKv, pabCache, mlpCache, latents, vaeDecode, reserve },
    total,
    peakPhase: vaeDecode > denoise ? "decode" : "denoise",
    localTokens,
    localBatch,
  };
}

/** Bytes as GiB with two decimals, for messages. */
export function formatGiB(bytes: number): string {
  return `${(bytes / GiB).toFixed(2)} GiB`;
}
