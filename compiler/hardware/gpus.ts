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
}

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
  },
  h200: {
    name: "h200",
    title: "NVIDIA H200 SXM 141GB",
    memoryBytes: 143771 * MiB,
    matrixFlops: 989e12,
    memoryBandwidth: 4.8e12,
    intraNodeBandwidth: 450e9,
    interNodeBandwidth: 50e9,
  },
  a100: {
    name: "a100",
    title: "NVIDIA A100 SXM 80GB",
    memoryBytes: 81920 * MiB,
    matrixFlops: 312e12,
    memoryBandwidth: 2.04e12,
    intraNodeBandwidth: 300e9,
    interNodeBandwidth: 25e9,
  },
  l40: {
    name: "l40",
    title: "NVIDIA L40 48GB (PCIe)",
    memoryBytes: 46068 * MiB,
    matrixFlops: 181e12,
    memoryBandwidth: 864e9,
    intraNodeBandwidth: 32e9,
    interNodeBandwidth: 25e9,
  },
};

export const DEFAULT_GPU: GpuName = "h100";
