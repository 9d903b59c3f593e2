/**
 * What one op of a plan costs on one rank, counted from its fields and its buffers, before any hardware is
 * chosen: floating-point operations, bytes moved through device memory, and bytes sent to other ranks.
 *
 * Counting conventions:
 * - A multiply-add is 2 FLOPs. Linear: 2·rows·in·out. Self-attention: 4·batch·seq·keys·heads·headDim (QKᵀ and
 *   AV; softmax is not counted, as flash-attention benchmarks do not count it); with `ring` a rank's queries
 *   meet the keys of all R ring ranks, so a rank does 1/R of the whole sequence's work. Cross-attention:
 *   4·samples·queries·keys·heads·headDim. Elementwise ops: a few FLOPs per value (PER_VALUE below); their time
 *   is set by bytes, so these only keep the FLOP totals honest.
 * - Padding (`parallel.pad`, `pad_heads`) is counted as work: ops run on the padded shapes, a self-attention's
 *   `validKeys` mask only decides which scores get weight (its padded queries and masked keys' scores are still
 *   computed), and zero heads attend like real ones. So the waste the plan's padding table names shows in its
 *   FLOPs and time. Only a Linear's zero columns (padColumns) are stores, not GEMM work.
 * - `tileFlops` is the work a flash-attention kernel really does: queries and keys are processed in tiles of
 *   128, so a short sequence (STDiT's 16-frame temporal attention) pays for whole tiles. On an H200 the 16-token
 *   temporal attention of the 16x512x512 step ran at 3.5 TFLOP/s against 358 for 1,024 tokens (0.69 ms); the
 *   tile count (64x the work) and a one-tile kernel's unhidden loads (plan-cost.ts) predict 0.55 ms of it.
 * - Bytes are the sizes of the buffers and weights the op reads and writes (plan/op-buffers.ts), each once:
 *   caches (L2, shared memory) are not modelled, so a GEMM's re-reads of its operands are free. Ring attention
 *   also writes and reads each K/V block it receives.
 * - Convolution (the VAE decoder): 2·frames·height·width·in·out·kernel² as an implicit GEMM. GroupNorm and
 *   nearest upsampling are elementwise. Under the decode's patch split a 3x3 convolution sends one row of its
 *   input to each neighbour (2 calls), and a reduced GroupNorm sends its rows' partial sums (two doubles per row,
 *   frame and group) to every other member of the group (1 call).
 * - Communication is what a rank sends per call: all_to_all size·(P−1)/P, all_gather (output size)·(P−1)/P,
 *   ring attention its K and V blocks R−1 times, a PipeFusion send its message (the matching recv only
 *   writes it: the link time is charged once, to the sender); tagged with the group axis and whether its
 *   groups stay on one node (mesh.intraNode), which picks the link.
 */
import type { GroupAxis } from "../lower/mesh.js";
import { DTYPE_BYTES } from "../plan/memory.js";
import { opBuffers } from "../plan/op-buffers.js";
import type { Op } from "../plan/ops.js";
import type { Plan, PlanDtype } from "../plan/types.js";

/** Which rate bounds an op: the matrix units (GEMM or attention kernels), memory bandwidth, or a link. */
export type CostKind = "gemm" | "attention" | "memory" | "collective";

export interface Communication {
  readonly axis: GroupAxis;
  /** Bytes this rank sends over the whole op. */
  readonly bytes: number;
  /** Collective calls the op makes (ring attention: one send/receive per ring step). */
  readonly calls: number;
  readonly intraNode: boolean;
}

export interface OpCost {
  readonly kind: CostKind;
  readonly flops: number;
  /** The FLOPs the op's time is charged for: `flops`, with attention's matmuls counted over whole tiles. */
  readonly tileFlops: number;
  /** Bytes read and written in device memory. */
  readonly bytes: number;
  /** Attention: the key tiles one query tile walks (per ring step); loads hide behind math only from the second. */
  readonly keyTiles?: number;
  /**
   * Attention the fused library kernel does not take (ring partials with their log-sum-exp, q/k norms or rotary
   * embedding applied as rows load, masked or padded keys, a K/V cache), over sequences long enough for that to
   * matter: the runtime's own kernel runs it, at `efficiency.ownAttention` (hardware/gpus.ts).
   */
  readonly ownKernel?: boolean;
  readonly comm?: Communication;
}

/** What an op's cost needs to know about the plan around it. */
export interface CostContext {
  /** Bytes of a buffer or weight. */
  bytesOf(name: string): number;
  /** Bytes of one element of a buffer or weight. */
  elementBytes(name: string): number;
  /** Ranks in one group along an axis (1 when the mesh has no groups on it). */
  groupSize(axis: GroupAxis): number;
  /** Whether the groups along an axis stay inside one node. */
  intraNode(axis: GroupAxis): boolean;
}

/** Rows and columns of flash attention's query and key tiles. */
export const ATTENTION_TILE = 128;

/**
 * Whether a self-attention runs on the runtime's own streaming kernel rather than the fused library one: the
 * CUDA backend gives cuDNN only whole-sequence attention of more than one tile of queries without ring partials,
 * a K/V cache or padded keys (native/src/cuda/cudnn_attention.h cudnn_attention_fits; q/k norms and RoPE are
 * applied by a pre-pass first, qkPrepass); shorter sequences take the one-tile kernel, whose cost the tile
 * padding already models.
 */
export function ownAttentionKernel(op: Extract<Op, { op: "self_attention" }>): boolean {
  if (op.seq <= ATTENTION_TILE) return false;
  return op.ring !== undefined || op.kvCache !== undefined || op.validKeys !== undefined;
}

/**
 * Whether the CUDA backend applies a long self-attention's q/k norms and RoPE in a pre-pass (q, k and v copied
 * once through scratch, native/src/cuda/self_attention.cu) rather than on every key tile the kernel loads.
 */
export function qkPrepass(op: Extract<Op, { op: "self_attention" }>): boolean {
  return op.seq > ATTENTION_TILE && op.ring === undefined && op.kvCache === undefined && (op.qNorm !== undefined || op.kNorm !== undefined || op.rope !== undefined);
}

/** FLOPs per value of elementwise work. */
const PER_VALUE = {
  /** A bias add, a residual add, a gate multiply, a table add. */
  single: 1,
  /** SiLU: exp, add, divide, multiply. */
  silu: 4,
  /** GELU-tanh: the cubic, the tanh (as one), the scale and the product. */
  geluTanh: 8,
  /** LayerNorm (mean and variance, 2 each; normalise, 2) then scale and shift (2). */
  layerNormModulate: 8,
  /** A sin or cos table entry, argument included. */
  sinCos: 10,
  /** Per-head RMSNorm of q or k: square, sum, scale, weight. */
  rmsNorm: 4,
  /** Rotary embedding: two products and a sum per value, plus its angle. */
  rope: 6,
  /** u + s·(c − u). */
  guidance: 3,
  /** A solver update: a handful of coefficients times latent, prediction and noise. */
  solver: 8,
  /** GroupNorm: mean and variance (2 each), normalise (2), weight and bias (2). */
  groupNorm: 8,
} as const;

const ACTIVATION_PER_VALUE: Readonly<Record<"none" | "gelu_tanh" | "silu", number>> = {
  none: 0,
  silu: PER_VALUE.silu,
  gelu_tanh: PER_VALUE.geluTanh,
};

/** The plan's buffers, weights and mesh as a CostContext. */
export function costContext(plan: Pick<Plan, "buffers" | "weights" | "mesh">): CostContext {
  const sized = new Map<string, { bytes: number; dtype: PlanDtype }>();
  for (const w of plan.weights) sized.set(w.name, { bytes: w.shape.reduce((a, d) => a * d, 1) * DTYPE_BYTES[w.dtype], dtype: w.dtype });
  for (const b of plan.buffers) sized.set(b.name, { bytes: b.bytes, dtype: b.dtype });
  const find = (name: string) => {
    const s = sized.get(name);
    if (!s) throw new Error(`the cost model met ${name}, which is neither a buffer nor a weight of the plan`);
    return s;
  };
  return {
    bytesOf: (name) => find(name).bytes,
    elementBytes: (name) => DTYPE_BYTES[find(name).dtype],
    groupSize: (axis) => plan.mesh.groups[axis]?.[0]?.length ?? 1,
    intraNode: (axis) => plan.mesh.intraNode[axis] ?? true,
  };
}

function roundUpToTile(n: number): number {
  return Math.ceil(n / ATTENTION_TILE) * ATTENTION_TILE;
}

/** Bytes of every buffer the op reads and writes, each once; a column-range Linear moves only its columns. */
function transferBytes(op: Op, ctx: CostContext): number {
  const { reads, writes } = opBuffers(op);
  let bytes = 0;
  for (const name of reads) bytes += ctx.bytesOf(name);
  for (const name of writes) bytes += ctx.bytesOf(name);
  if (op.op === "linear") {
    // Zero heads' columns are written too (padColumns), so a column range holds the widened width.
    const written = op.padColumns ? op.padColumns.chunks * op.padColumns.width : op.outFeatures;
    if (op.outColumns) bytes -= ctx.bytesOf(op.out) * (1 - written / op.outColumns.stride);
    if (op.inColumns) bytes -= ctx.bytesOf(op.x) * (1 - op.inFeatures / op.inColumns.stride);
  }
  return bytes;
}

function elementwise(op: Op, ctx: CostContext, values: number, perValue: number): OpCost {
  const flops = values * perValue;
  return { kind: "memory", flops, tileFlops: flops, bytes: transferBytes(op, ctx) };
}

function product(dims: readonly number[]): number {
  return dims.reduce((a, d) => a * d, 1);
}

/** Values a point-to-point message carries: its 4-D view, or the view's slice along one axis. */
function messageValues(dims: readonly number[], slice: { readonly dim: number; readonly count: number } | undefined): number {
  return slice ? (product(dims) / dims[slice.dim]!) * slice.count : product(dims);
}

export function opCost(op: Op, ctx: CostContext): OpCost {
  switch (op.op) {
    case "linear": {
      const matmul = 2 * op.rows * op.inFeatures * op.outFeatures;
      const epilogue = op.rows * op.outFeatures * ((op.bias ? PER_VALUE.single : 0) + ACTIVATION_PER_VALUE[op.activation]);
      return { kind: "gemm", flops: matmul + epilogue, tileFlops: matmul + epilogue, bytes: transferBytes(op, ctx) };
    }
    case "patch_embed": {
      // A padded layout's share: the rank holding only real tokens computes all of it.
      const grid = op.padded ? op.padded.frames * op.padded.tokens : op.grid.frames * op.grid.rows * op.grid.cols;
      const tokens = grid / (op.shard?.parts ?? 1) / (op.band?.count ?? 1);
      const patchValues = op.channels * op.patch.t * op.patch.h * op.patch.w;
      const flops = 2 * op.samples * tokens * patchValues * op.hidden + op.samples * tokens * op.hidden * PER_VALUE.single;
      return { kind: "gemm", flops, tileFlops: flops, bytes: transferBytes(op, ctx) };
    }
    case "self_attention": {
      const ring = op.ring ? ctx.groupSize(op.ring) : 1;
      const width = op.heads * op.headDim;
      // PipeFusion: the queries of a band attend to every key of the K/V buffer.
      const keys = op.kvCache ? op.kvCache.keys : op.seq * ring;
      const matmul = 4 * op.batch * op.seq * keys * width;
      // Per-head norms of q and of k, and rotary embedding of both.
      const qValues = op.batch * op.seq * width;
      const extras = qValues * ((op.qNorm ? PER_VALUE.rmsNorm : 0) + (op.kNorm ? PER_VALUE.rmsNorm : 0) + (op.rope ? 2 * PER_VALUE.rope : 0));
      const tileFlops = 4 * op.batch * roundUpToTile(op.seq) * roundUpToTile(op.kvCache ? keys : op.seq) * ring * width + extras;
      const blockKv = 2 * op.batch * op.seq * width * ctx.elementBytes(op.qkv);
      // The K/V buffer is read whole but written only in the op's own rows.
      const cacheWrite = op.kvCache ? 2 * op.batch * op.seq * width * ctx.elementBytes(op.kvCache.buffer) - ctx.bytesOf(op.kvCache.buffer) : 0;
      const cost: OpCost = {
        kind: "attention",
        flops: matmul + extras,
        tileFlops,
        ...(ownAttentionKernel(op) ? { ownKernel: true } : {}),
        // Each received K/V block is written on arrival and read by the next partial attention; a q/k pre-pass
        // reads qkv and writes its transformed copy.
        bytes: transferBytes(op, ctx) + cacheWrite + 2 * (ring - 1) * blockKv + (qkPrepass(op) ? 2 * 3 * qValues * ctx.elementBytes(op.qkv) : 0),
        keyTiles: Math.ceil((op.kvCache ? keys : op.seq) / ATTENTION_TILE),
      };
      if (!op.ring || ring === 1) return cost;
      return { ...cost, comm: { axis: op.ring, bytes: (ring - 1) * blockKv, calls: ring - 1, intraNode: ctx.intraNode(op.ring) } };
    }
    case "cross_attention": {
      const width = op.heads * op.headDim;
      const flops = 4 * op.samples * op.queries * op.keys * width;
      const tileFlops = 4 * op.samples * roundUpToTile(op.queries) * roundUpToTile(op.keys) * width;
      // The text's mask (and K/V of its own layout) keep cross-attention on the runtime's own kernel.
      return { kind: "attention", flops, tileFlops, bytes: transferBytes(op, ctx), keyTiles: Math.ceil(op.keys / ATTENTION_TILE), ...(op.queries > ATTENTION_TILE ? { ownKernel: true } : {}) };
    }
    case "all_to_all": {
      const parts = ctx.groupSize(op.axis);
      const size = product(op.dims) * ctx.elementBytes(op.x);
      return collective(op, ctx, (size * (parts - 1)) / parts, 2 * size);
    }
    case "all_gather": {
      const parts = ctx.groupSize(op.axis);
      const gathered = product(op.dims) * parts * ctx.elementBytes(op.x);
      return collective(op, ctx, (gathered * (parts - 1)) / parts, gathered / parts + gathered);
    }
    case "send": {
      const message = messageValues(op.dims, op.slice) * ctx.elementBytes(op.x);
      return collective(op, ctx, message, message);
    }
    case "recv":
      return { kind: "memory", flops: 0, tileFlops: 0, bytes: messageValues(op.dims, op.slice) * ctx.elementBytes(op.out) };
    case "timestep_embed":
      return elementwise(op, ctx, op.samples * op.dim, PER_VALUE.sinCos);
    case "silu":
      return elementwise(op, ctx, op.count, PER_VALUE.silu);
    case "add":
      return elementwise(op, ctx, op.count, PER_VALUE.single);
    case "add_rows":
      return elementwise(op, ctx, op.rows * op.width, PER_VALUE.single);
    case "modulation":
      return elementwise(op, ctx, op.samples * op.chunks * op.width, op.table ? PER_VALUE.single : 0);
    case "layernorm_modulate":
      return elementwise(op, ctx, op.rows * op.width, PER_VALUE.layerNormModulate);
    case "gate":
      return elementwise(op, ctx, op.rows * op.width, PER_VALUE.single);
    case "sincos_2d": {
      const positions = (op.padded ?? op.rows * op.cols) / (op.shard?.parts ?? 1);
      return elementwise(op, ctx, positions * op.width, PER_VALUE.sinCos);
    }
    case "sincos_1d":
      return elementwise(op, ctx, (op.count / (op.shard?.parts ?? 1)) * op.width, PER_VALUE.sinCos);
    case "guidance":
      return elementwise(op, ctx, op.samples * op.mixed * op.plane, PER_VALUE.guidance);
    case "solver_update":
      return elementwise(op, ctx, op.samples * op.channels * op.plane, PER_VALUE.solver);
    case "conv2d": {
      const pixels = op.frames * op.height * op.width;
      const flops = 2 * pixels * op.inChannels * op.outChannels * op.kernel * op.kernel + (op.bias ? pixels * op.outChannels * PER_VALUE.single : 0);
      const cost: OpCost = { kind: "gemm", flops, tileFlops: flops, bytes: transferBytes(op, ctx) };
      if (!op.halo) return cost;
      // One row of the input to each neighbour, before computing.
      const row = op.frames * op.width * op.inChannels * ctx.elementBytes(op.x);
      return { ...cost, comm: { axis: op.halo.axis, bytes: 2 * row, calls: 2, intraNode: ctx.intraNode(op.halo.axis) } };
    }
    case "group_norm": {
      const cost = elementwise(op, ctx, op.frames * op.height * op.width * op.channels, PER_VALUE.groupNorm + (op.silu ? PER_VALUE.silu : 0));
      if (!op.reduce) return cost;
      const parts = ctx.groupSize(op.reduce.axis);
      // Each image row's sum and sum of squares per (frame, group), in double, to every other member.
      const partials = op.frames * op.height * op.groups * 2 * 8;
      return { ...cost, comm: { axis: op.reduce.axis, bytes: (parts - 1) * partials, calls: 1, intraNode: ctx.intraNode(op.reduce.axis) } };
    }
    // Copies, gathers and stores: bytes only.
    case "upsample_nearest":
    case "embedding":
    case "permute":
    case "unpatchify":
    case "constant":
    case "concat":
      return elementwise(op, ctx, 0, 0);
  }
}

function collective(op: Op & { readonly axis: GroupAxis }, ctx: CostContext, sent: number, bytes: number): OpCost {
  return { kind: "collective", flops: 0, tileFlops: 0, bytes, comm: { axis: op.axis, bytes: sent, calls: 1, intraNode: ctx.intraNode(op.axis) } };
}
