/**
 * Hardware profiles the memory and time estimates are made for. Figures are the vendors' dense bf16 matrix
 * rates and memory bandwidths; `memoryBytes` is what the device reports as total (cudaMemGetInfo), which is
 * a little below the marketing size. Users may add profiles through the programmatic API.
 */
import type { GpuName } from "../spec/schema.js";

export interface GpuProfile {
  readonly name: string;
  readonly title: string;
  readonly memoryBytes: number;
  /** Dense bf16 tensor-core rate, FLOP/s. */
  readonly matrixFlops: number;
  /** HBM bandwidth, bytes/s. */
  readonly memoryBandwidth: number;
  /** One GPU's bandwidth to its peers inside a node (NVLink or PCIe), bytes/s, one direction. */
  readonly intraNodeBandwidth: number;
  /** Bandwidth per GPU across nodes (network), bytes/s, one direction. */
  readonly interNodeBandwidth: number;
  /** Fractions of the peak rates the time estimate's kernels reach (compiler/cost/plan-cost.ts). */
  readonly efficiency: KernelEfficiency;
  /** Seconds every kernel adds on top of its work (launch and tail, inside a CUDA graph). */
  readonly kernelLaunch: number;
  /** Fixed seconds of one collective call (launch and synchronisation), inside a node and across nodes. */
  readonly collectiveLatency: { readonly intraNode: number; readonly interNode: number };
  /**
   * Seconds a rank's first exchange with each peer of each communicator costs once per run: NCCL connects its
   * peers lazily, inside the first step, which also runs outside a CUDA graph (compiler/cost/plan-cost.ts).
   */
  readonly peerWarmup: { readonly intraNode: number; readonly interNode: number };
}

/**
 * Achieved fractions of peak. Hopper's are measured on an H200 (PyTorch 2.11, bf16, the shapes of the
 * STDiT-XL/2 16x512x512 CFG step): cuBLAS GEMMs with K or N = 1152 reach 647-766 TFLOP/s (8192^3 reaches
 * 780-809), 0.72 of 989 weighted by their time; SDPA spatial attention (1,024 tokens, head dim 72) 320-358
 * TFLOP/s, 0.33; fused elementwise kernels (torch.compile's gate and permute, an add) 3.8-4.1 TB/s, 0.80 of
 * 4.8 (a plain 1 GiB copy reaches 4.2; layer norm is the exception, 1.2 TB/s compiled and 0.5 eager, which a
 * native row kernel should beat). The runtime's own mma.sync attention kernel, which takes what cuDNN's fused one
 * does not (ring partials, a K/V cache, padded keys), ran the same spatial attention at 178 TFLOP/s, 0.18; the
 * 2- and 4-GPU ring and USP steps of STDiT-XL/2 at 80x512x512 were 1.30-1.36x the estimate that priced them at
 * cuDNN's rate (docs/BENCHMARKS.md). The all-to-alls of STDiT-XL/2's 80x512x512 step over NVLink (NCCL 2.28, 2 and
 * 4 H200s, the runtime's pack and unpack copies included) moved 151-216 GB/s per rank, 0.34-0.48 of the 450 GB/s
 * link (the CUDA profile's lowest rank: dsp 2 5.29 GB in 35.0 ms, ulysses 2 10.57 GB in 59.0, dsp 4 3.97 GB in
 * 19.0, ulysses 4 7.94 GB in 36.8), so collectives are priced at 0.4 of it. Kernels in a CUDA graph start 1.2 µs
 * apart. The other profiles' values are
 * assumptions from published kernel benchmarks (FlashAttention-2 reaches about half of Ampere's peak, versus a
 * third of Hopper's, whose wgmma units it does not use), not measurements.
 */
export interface KernelEfficiency {
  /** GEMMs (linear, patch embedding), of `matrixFlops`. */
  readonly gemm: number;
  /** Flash attention, of `matrixFlops`, on the tile-padded work (compiler/cost/ops-cost.ts). */
  readonly attention: number;
  /**
   * The runtime's own attention kernel (mma.sync; ring partials, a K/V cache, padded keys:
   * compiler/cost/ops-cost.ts ownAttentionKernel), of `matrixFlops`.
   */
  readonly ownAttention: number;
  /** Bandwidth-bound kernels, of `memoryBandwidth`. */
  readonly memory: number;
  /**
   * Collectives and ring K/V passing, of the link bandwidth (`intraNodeBandwidth` or `interNodeBandwidth`): NCCL's
   * grouped calls with the runtime's pack and unpack copies around them.
   */
  readonly collective: number;
}

const HOPPER_EFFICIENCY: KernelEfficiency = { gemm: 0.72, attention: 0.33, ownAttention: 0.18, memory: 0.8, collective: 0.4 };

/** NCCL's small-message time over NVLink/NVSwitch and over an InfiniBand network (typical, not measured here). */
const NCCL_LATENCY = { intraNode: 15e-6, interNode: 40e-6 };

/**
 * The first step's excess over the steady step per peer connection, on 2 and 4 H200s (NCCL 2.28, STDiT-XL/2
 * 80x512x512): dsp 2 0.42 s for its 1 peer, dsp 4 1.47 s and ulysses 4 1.51 s for 3, ring 4 0.68 s for its 2
 * neighbours, cfg 2 x dsp 2 0.94 s for 2; about 0.45 s a peer. Across nodes assumed the same (not measured).
 */
const PEER_WARMUP = { intraNode: 0.45, interNode: 0.45 };

const MiB = 1024 * 1024;

export const GPU_PROFILES: Readonly<Record<GpuName, GpuProfile>> = {
  h100: {
    name: "h100",
    title: "NVIDIA H100 SXM 80GB",
    memoryBytes: 81559 * MiB,
    matrixFlops: 989e12,
    memoryBandwidth: 3.35e12,
    intraNodeBandwidth: 450e9,
    interNodeBandwidth: 50e9,
    efficiency: HOPPER_EFFICIENCY,
    kernelLaunch: 1.2e-6,
    collectiveLatency: NCCL_LATENCY,
    peerWarmup: PEER_WARMUP,
  },
  h200: {
    name: "h200",
    title: "NVIDIA H200 SXM 141GB",
    memoryBytes: 143771 * MiB,
    matrixFlops: 989e12,
    memoryBandwidth: 4.8e12,
    intraNodeBandwidth: 450e9,
    interNodeBandwidth: 50e9,
    efficiency: HOPPER_EFFICIENCY,
    kernelLaunch: 1.2e-6,
    collectiveLatency: NCCL_LATENCY,
    peerWarmup: PEER_WARMUP,
  },
  a100: {
    name: "a100",
    title: "NVIDIA A100 SXM 80GB",
    memoryBytes: 81920 * MiB,
    matrixFlops: 312e12,
    memoryBandwidth: 2.04e12,
    intraNodeBandwidth: 300e9,
    interNodeBandwidth: 25e9,
    efficiency: { gemm: 0.8, attention: 0.5, ownAttention: 0.4, memory: 0.8, collective: 0.4 },
    kernelLaunch: 1.5e-6,
    collectiveLatency: NCCL_LATENCY,
    peerWarmup: PEER_WARMUP,
  },
  l40: {
    name: "l40",
    title: "NVIDIA L40 48GB (PCIe)",
    memoryBytes: 46068 * MiB,
    matrixFlops: 181e12,
    memoryBandwidth: 864e9,
    intraNodeBandwidth: 32e9,
    interNodeBandwidth: 25e9,
    efficiency: { gemm: 0.7, attention: 0.45, ownAttention: 0.35, memory: 0.8, collective: 0.4 },
    kernelLaunch: 1.5e-6,
    // PCIe peers exchange through the host bridge: slower to synchronise than NVLink.
    collectiveLatency: { intraNode: 25e-6, interNode: 40e-6 },
    peerWarmup: PEER_WARMUP,
  },
};

export const DEFAULT_GPU: GpuName = "h100";
