/**
 * The runner of every op kind of the plan's op set (compiler/plan/ops.ts), as one table: a new op kind fails to
 * type-check here until it has a runner. The collectives and point-to-point ops (all_to_all, all_gather, send,
 * recv) need the other ranks of their group, which this one-rank interpreter does not have: their runner throws,
 * naming the op. The all-ranks simulations run the collectives themselves (ranks.ts, collectives/), PipeFusion's
 * send and recv too (pipeline.ts, collectives/point-to-point.ts), and every other op through this table. The
 * VAE decode's own ops (conv2d, group_norm, upsample_nearest) appear only in plan.decode, which the interpreter
 * does not run: their runner throws, saying so.
 */
import type { Op, OpName } from "../../compiler/plan/ops.js";
import type { Memory } from "./memory.js";
import type { OpRunner } from "./op-runner.js";
import { runAdd } from "./ops/add.js";
import { runAddRows } from "./ops/add-rows.js";
import { runConcat } from "./ops/concat.js";
import { runConstant } from "./ops/constant.js";
import { runCrossAttention } from "./ops/cross-attention.js";
import { runEmbedding } from "./ops/embedding.js";
import { runGate } from "./ops/gate.js";
import { runGuidance } from "./ops/guidance.js";
import { runLayerNormModulate } from "./ops/layernorm-modulate.js";
import { runLinear } from "./ops/linear.js";
import { runModulation } from "./ops/modulation.js";
import { runPatchEmbed } from "./ops/patch-embed.js";
import { runPermute } from "./ops/permute.js";
import { runSelfAttention } from "./ops/self-attention.js";
import { runSilu } from "./ops/silu.js";
import { runSinCos1d } from "./ops/sincos-1d.js";
import { runSinCos2d } from "./ops/sincos-2d.js";
import { runSolverUpdate } from "./ops/solver-update.js";
import { runTimestepEmbed } from "./ops/timestep-embed.js";
import { runUnpatchify } from "./ops/unpatchify.js";

/** How messages name an op: "op 41 (self_attention, spatial block 3)". */
export function describeOp(op: Op): string {
  const where = op.block === undefined ? "" : `, ${op.blockKind ? `${op.blockKind} ` : ""}block ${op.block}`;
  return `op ${op.id} (${op.op}${where})`;
}

/** An error for ops that exchange data with other ranks. */
export class MultiRankOpError extends Error {
  constructor(readonly op: Op) {
    const axis = "axis" in op ? ` over the ${op.axis} group` : "";
    super(`${describeOp(op)} moves data${axis} between ranks; the reference interpreter runs one rank and cannot run it`);
    this.name = "MultiRankOpError";
  }
}

const needsRanks: OpRunner = (op) => {
  throw new MultiRankOpError(op);
};

/** An error for the ops of the VAE decode (plan.decode), which only the native runtime runs. */
export class DecodeOpError extends Error {
  constructor(readonly op: Op) {
    super(`${describeOp(op)} belongs to the VAE decode (plan.decode), which the native runtime runs; the reference interpreter runs the denoising programs only`);
    this.name = "DecodeOpError";
  }
}

const decodeOnly: OpRunner = (op) => {
  throw new DecodeOpError(op);
};

type Runners = { readonly [K in OpName]: OpRunner<Extract<Op, { op: K }>> };

export const RUNNERS: Runners = {
  timestep_embed: runTimestepEmbed,
  linear: runLinear,
  silu: runSilu,
  add: runAdd,
  embedding: runEmbedding,
  patch_embed: runPatchEmbed,
  sincos_2d: runSinCos2d,
  sincos_1d: runSinCos1d,
  constant: runConstant,
  concat: runConcat,
  add_rows: runAddRows,
  modulation: runModulation,
  layernorm_modulate: runLayerNormModulate,
  gate: runGate,
  permute: runPermute,
  self_attention: runSelfAttention,
  cross_attention: runCrossAttention,
  unpatchify: runUnpatchify,
  guidance: runGuidance,
  solver_update: runSolverUpdate,
  all_to_all: needsRanks,
  all_gather: needsRanks,
  send: needsRanks,
  recv: needsRanks,
  conv2d: decodeOnly,
  group_norm: decodeOnly,
  upsample_nearest: decodeOnly,
};

/** Whether the one-rank interpreter can run ops of this kind. */
export function runsOnOneRank(name: OpName): boolean {
  return RUNNERS[name] !== needsRanks && RUNNERS[name] !== decodeOnly;
}

/** Runs one op on the rank's memory. */
export function runOp(op: Op, mem: Memory): void {
  // The table holds, under each op name, the runner of exactly that op kind: the lookup by op.op is sound even
  // though TypeScript cannot correlate the union member with the table entry.
  const run = RUNNERS[op.op] as OpRunner;
  run(op, mem);
}
