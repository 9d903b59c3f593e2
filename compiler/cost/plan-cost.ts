/**
 * The time estimate of a plan on one GPU profile: every op priced (ops-cost.ts), summed per PAB pattern,
 * then over the run.
 *
 * The model, one line of why per term:
 * - A compute op takes max(FLOPs / (matrix rate × its kind's efficiency), bytes / (memory bandwidth × memory
 *   efficiency)): a roofline, each kernel bound by whichever unit it saturates. Elementwise ops are charged for
 *   bytes only (a few FLOPs per value never bound them). Efficiencies live in the GPU profile
 *   (hardware/gpus.ts), measured on an H200 for Hopper.
 * - Every kernel adds a fixed launch gap, small because the runtime replays CUDA graphs (1.2 µs measured).
 * - Flash attention hides its loads behind math only from its second key tile on, so it adds the smaller of
 *   the two divided by its key tiles: with one tile (16-frame temporal attention, 120-token cross attention)
 *   nothing overlaps, as the H200 timings of those kernels show.
 * - A collective takes bytes sent / (link bandwidth × collective efficiency) + its calls × a fixed latency; the
 *   link is NVLink (or PCIe) when the axis's groups stay on one node (mesh.intraNode), else the network.
 * - Nothing overlaps across ops: a step is the plain sum of its ops, communication included, and ring
 *   attention pays its math and its K/V passing one after the other. Real runs overlap some communication
 *   with compute (ring attention, NCCL on its own stream), so a layout that communicates much is estimated
 *   pessimistically.
 * - A rank's first exchange with each peer of each communicator costs a fixed warm-up once a run (NCCL connects
 *   lazily, in the first step), counted with the setup program.
 * - A pattern skips the ops PAB reuses (tagged with a reused attention kind, or the MLP ops of a block whose
 *   kept output it reuses); the run is the setup program once plus each pattern's step times its step count.
 *   Weight loading and text encoding are outside the plan and not counted; the VAE decode after the step loop
 *   is priced on its own, the same way (decode-cost.ts, plan.decode.cost).
 * - PipeFusion: a pattern runs only the ops of its phase (and the latent hand-over its flags allow), and a
 *   rank only its stage's ops; the figures are the busiest stage's, since the slowest stage paces the
 *   pipeline (its fill and drain are not modelled).
 *
 * Calibration (H200 profile, bf16): one CFG step of STDiT-XL/2 at 16x512x512 on one rank (48.8 TFLOP) is
 * estimated at 109 ms: GEMMs 62, spatial attention 13.6, temporal attention 15.5 (16-frame sequences fill an
 * eighth of each tile side), cross attention 2.8, elementwise 15. The same kernels timed one by one on an H200
 * give GEMMs 62, attention 12.1 + 19.4 + 4.1, torch.compile's fused elementwise kernels 19: 116 ms. PyTorch
 * eager runs the whole step in 140 ms (its unfused norms, modulations and gates cost 37) and torch.compile in
 * 119; the estimate is 22% under eager and 9% under compile, whose fusion the plan's ops share.
 */
import { inPhase, runsIn } from "../plan/pattern-runs.js";
import type { GpuProfile } from "../hardware/gpus.js";
import { DTYPE_BYTES } from "../plan/memory.js";
import type { Op } from "../plan/ops.js";
import type { Plan, PlanCost, PlanPattern } from "../plan/types.js";
import { costContext, opCost, type CostKind, type OpCost } from "./ops-cost.js";

/** An op's time split into its own kernel's and its communication's. */
export interface OpSeconds {
  readonly compute: number;
  readonly comm: number;
}

/** Sums over a list of ops. */
export interface OpsTotals {
  readonly flops: number;
  readonly bytes: number;
  readonly commBytes: number;
  /** Seconds on one rank. */
  readonly seconds: number;
  /** The same seconds by what bounds them; ring attention's K/V passing counts as `collective`. */
  readonly secondsByKind: Readonly<Record<CostKind, number>>;
}

/** One step of a pattern. */
export interface PatternCost extends OpsTotals {
  readonly id: number;
  readonly steps: number;
}

export interface PlanEstimate {
  /** The setup program, once. */
  readonly setup: OpsTotals;
  /** One step with every op computing. */
  readonly allCompute: OpsTotals;
  readonly patterns: readonly PatternCost[];
}

interface PricedOp {
  readonly op: Op;
  readonly cost: OpCost;
  readonly time: OpSeconds;
}

export function opSeconds(cost: OpCost, gpu: GpuProfile): OpSeconds {
  const memory = cost.bytes / (gpu.memoryBandwidth * gpu.efficiency.memory);
  let compute = 0;
  switch (cost.kind) {
    case "gemm":
      compute = gpu.kernelLaunch + Math.max(cost.tileFlops / (gpu.matrixFlops * gpu.efficiency.gemm), memory);
      break;
    case "attention": {
      const math = cost.tileFlops / (gpu.matrixFlops * (cost.ownKernel ? gpu.efficiency.ownAttention : gpu.efficiency.attention));
      // The next key tile loads while this one computes, so only the first tile's share stays exposed.
      compute = gpu.kernelLaunch + Math.max(math, memory) + Math.min(math, memory) / (cost.keyTiles ?? 1);
      break;
    }
    case "memory":
      compute = gpu.kernelLaunch + memory;
      break;
    case "collective":
      break;
  }
  let comm = 0;
  if (cost.comm) {
    const link = cost.comm.intraNode ? gpu.intraNodeBandwidth : gpu.interNodeBandwidth;
    const latency = cost.comm.intraNode ? gpu.collectiveLatency.intraNode : gpu.collectiveLatency.interNode;
    comm = cost.comm.bytes / (link * gpu.efficiency.collective) + cost.comm.calls * latency;
  }
  return { compute, comm };
}

function sumOf(priced: readonly PricedOp[]): OpsTotals {
  const byKind: Record<CostKind, number> = { gemm: 0, attention: 0, memory: 0, collective: 0 };
  let flops = 0;
  let bytes = 0;
  let commBytes = 0;
  for (const p of priced) {
    flops += p.cost.flops;
    bytes += p.cost.bytes;
    commBytes += p.cost.comm?.bytes ?? 0;
    byKind[p.cost.kind] += p.time.compute;
    byKind.collective += p.time.comm;
  }
  const seconds = byKind.gemm + byKind.attention + byKind.memory + byKind.collective;
  return { flops, bytes, commBytes, seconds, secondsByKind: byKind };
}

/** PipeFusion stages (1 without PipeFusion). */
function stageCount(plan: Pick<Plan, "mesh">): number {
  return plan.mesh.axes.find((a) => a.name === "pipefusion")?.degree ?? 1;
}

/** Bytes of the weights one rank holds: a PipeFusion stage only those its stage reads. */
export function weightBytesPerRank(plan: Pick<Plan, "weights" | "mesh">): number {
  let most = 0;
  for (let stage = 0; stage < stageCount(plan); stage++) {
    let held = 0;
    for (const w of plan.weights) {
      if (w.stages && !w.stages.includes(stage)) continue;
      held += w.shape.reduce((a, d) => a * d, 1) * DTYPE_BYTES[w.dtype];
    }
    most = Math.max(most, held);
  }
  return most;
}

/**
 * The ops' totals on the busiest rank: without PipeFusion every rank runs them all; with it, each stage runs
 * the ops of no stage and its own, and the slowest stage bounds the step (pipeline fill is not modelled).
 */
function busiestStage(priced: readonly PricedOp[], stages: number): OpsTotals {
  let busiest: OpsTotals | undefined;
  for (let stage = 0; stage < stages; stage++) {
    const totals = sumOf(priced.filter((p) => p.op.stage === undefined || p.op.stage === stage));
    if (!busiest || totals.seconds > busiest.seconds) busiest = totals;
  }
  return busiest ?? sumOf([]);
}

/** The cost of the setup program and of one step of every pattern of a plan on a GPU profile. */
export function estimatePlan(plan: Omit<Plan, "hash" | "cost">, gpu: GpuProfile): PlanEstimate {
  const ctx = costContext(plan);
  const stages = stageCount(plan);
  const price = (op: Op): PricedOp => {
    const cost = opCost(op, ctx);
    return { op, cost, time: opSeconds(cost, gpu) };
  };
  const step = plan.program.step.map(price);
  // Step 0's pattern never reuses (PAB computes at step 0), so its phase is the all-compute step's.
  const first = plan.patterns.find((p) => p.id === plan.steps[0]?.pattern);
  return {
    setup: busiestStage(plan.program.setup.map(price), stages),
    allCompute: busiestStage(first ? step.filter((p) => inPhase(p.op, first)) : step, stages),
    patterns: plan.patterns.map((pattern) => ({
      id: pattern.id,
      steps: pattern.steps,
      ...busiestStage(step.filter((p) => runsIn(p.op, pattern)), stages),
    })),
  };
}

/**
 * The peers a rank first exchanges with, per communicator axis: a group's other members for its all-to-alls and
 * all-gathers, its two ring neighbours (one in a ring of two) for ring attention, the neighbouring stage for
 * PipeFusion's sends; each with whether the axis stays in one node.
 */
export function peerConnections(plan: Pick<Plan, "program" | "mesh">): { readonly axis: string; readonly peers: number; readonly intraNode: boolean }[] {
  const peers = new Map<string, number>();
  const need = (axis: string, n: number) => peers.set(axis, Math.max(peers.get(axis) ?? 0, n));
  const size = (axis: string) => plan.mesh.groups[axis as keyof typeof plan.mesh.groups]?.[0]?.length ?? 1;
  for (const op of [...plan.program.setup, ...plan.program.step]) {
    if (op.op === "all_to_all" || op.op === "all_gather") need(op.axis, size(op.axis) - 1);
    else if (op.op === "self_attention" && op.ring) need(op.ring, Math.min(2, size(op.ring) - 1));
    else if (op.op === "send" || op.op === "recv") need(op.axis, Math.min(2, size(op.axis) - 1));
  }
  return [...peers].filter(([, n]) => n > 0).map(([axis, n]) => ({ axis, peers: n, intraNode: plan.mesh.intraNode[axis as keyof typeof plan.mesh.intraNode] ?? true }));
}

/** The plan's `cost` field. */
export function planCost(plan: Omit<Plan, "hash" | "cost">, gpu: GpuProfile): PlanCost {
  const { setup, allCompute, patterns } = estimatePlan(plan, gpu);
  // NCCL's connections, made in the run's first step: once a run, so with the setup program.
  const warmup = peerConnections(plan).reduce((s, c) => s + c.peers * (c.intraNode ? gpu.peerWarmup.intraNode : gpu.peerWarmup.interNode), 0);
  const setupSeconds = setup.seconds + warmup;
  return {
    gpu: gpu.name,
    flopsPerStep: allCompute.flops,
    perPattern: patterns.map((p) => ({ id: p.id, flops: p.flops, bytes: p.bytes, commBytes: p.commBytes, seconds: p.seconds })),
    setupSeconds,
    totalSeconds: patterns.reduce((sum, p) => sum + p.seconds * p.steps, setupSeconds),
    peakBytesPerRank: weightBytesPerRank(plan) + plan.arenaBytes,
  };
}
