/**
 * A plan at a glance, as data for `opendit plan`'s text and `opendit tune`'s table: what a rank holds (weights,
 * its arena by buffer role), what its program does (ops by kind, collectives by axis, per step and over the
 * run with PAB's skipped ops left out), and the cost model's time. Bytes sent come from the cost model's own
 * per-op accounting (cost/ops-cost.ts), so the summary and the estimate never disagree.
 */
import { costContext, opCost } from "../cost/ops-cost.js";
import { weightBytesPerRank } from "../cost/plan-cost.js";
import { runsIn } from "./pattern-runs.js";
import type { GroupAxis } from "../lower/mesh.js";
import type { OpName } from "./ops.js";
import type { BufferRole, Plan } from "./types.js";

export interface RoleBytes {
  readonly role: BufferRole;
  readonly buffers: number;
  readonly bytes: number;
}

/** The calls and bytes of one kind of communication on one axis. */
export interface CollectiveSummary {
  readonly axis: GroupAxis;
  /** The op that communicates: all_to_all, all_gather, or self_attention passing K/V around a ring. */
  readonly op: OpName;
  /** In one step where everything computes. */
  readonly callsPerStep: number;
  readonly bytesPerStep: number;
  /** Over every step of the run, skipping what PAB reuses. */
  readonly callsPerRun: number;
  readonly bytesPerRun: number;
}

export interface PlanSummary {
  readonly weights: { readonly tensors: number; readonly bytesPerRank: number };
  /** Buffers that are not activations, by role, in the order roles are documented. */
  readonly persistent: readonly RoleBytes[];
  /** The shared region of the step's activations at its peak (liveness puts them on top of each other). */
  readonly activations: { readonly buffers: number; readonly bytes: number };
  readonly arenaBytes: number;
  readonly peakBytesPerRank: number;
  readonly ops: { readonly setup: number; readonly step: number; readonly byKind: readonly { readonly op: OpName; readonly count: number }[] };
  readonly collectives: readonly CollectiveSummary[];
  /** Bytes a rank sends in an average step of the run (PAB's skipped collectives left out). */
  readonly commBytesPerStep: number;
  readonly time: {
    readonly gpu: string;
    readonly setupSeconds: number;
    /** The mean step of the run; the fastest and slowest patterns' steps. */
    readonly meanStepSeconds: number;
    readonly fastestStepSeconds: number;
    readonly slowestStepSeconds: number;
    readonly totalSeconds: number;
  };
}

const ROLE_ORDER: readonly BufferRole[] = ["input", "table", "state", "cache", "output"];

function persistentByRole(plan: Plan): RoleBytes[] {
  return ROLE_ORDER.map((role) => {
    const held = plan.buffers.filter((b) => b.role === role);
    return { role, buffers: held.length, bytes: held.reduce((sum, b) => sum + b.bytes, 0) };
  }).filter((r) => r.buffers > 0);
}

function opsByKind(plan: Plan): { op: OpName; count: number }[] {
  const counts = new Map<OpName, number>();
  for (const op of plan.program.step) counts.set(op.op, (counts.get(op.op) ?? 0) + 1);
  return [...counts].map(([op, count]) => ({ op, count })).sort((a, b) => b.count - a.count || (a.op < b.op ? -1 : 1));
}

function collectivesOf(plan: Plan): CollectiveSummary[] {
  const ctx = costContext(plan);
  const stepsOf = new Map(plan.patterns.map((p) => [p.id, p]));
  const found = new Map<string, { axis: GroupAxis; op: OpName; callsPerStep: number; bytesPerStep: number; callsPerRun: number; bytesPerRun: number }>();
  for (const op of plan.program.step) {
    const comm = opCost(op, ctx).comm;
    if (!comm) continue;
    const key = `${comm.axis}/${op.op}`;
    const entry = found.get(key) ?? { axis: comm.axis, op: op.op, callsPerStep: 0, bytesPerStep: 0, callsPerRun: 0, bytesPerRun: 0 };
    entry.callsPerStep += comm.calls;
    entry.bytesPerStep += comm.bytes;
    for (const pattern of stepsOf.values()) {
      if (!runsIn(op, pattern)) continue;
      entry.callsPerRun += comm.calls * pattern.steps;
      entry.bytesPerRun += comm.bytes * pattern.steps;
    }
    found.set(key, entry);
  }
  return [...found.values()];
}

export function summarizePlan(plan: Plan): PlanSummary {
  const activationBuffers = plan.buffers.filter((b) => b.role === "activation");
  const persistentEnd = plan.buffers.filter((b) => b.role !== "activation").reduce((end, b) => Math.max(end, b.offset + b.bytes), 0);
  const collectives = collectivesOf(plan);
  const steps = plan.steps.length;
  const stepSeconds = plan.cost.perPattern.map((p) => p.seconds);
  return {
    weights: { tensors: plan.weights.length, bytesPerRank: weightBytesPerRank(plan) },
    persistent: persistentByRole(plan),
    activations: { buffers: activationBuffers.length, bytes: activationBuffers.length > 0 ? Math.max(0, plan.arenaBytes - persistentEnd) : 0 },
    arenaBytes: plan.arenaBytes,
    peakBytesPerRank: plan.cost.peakBytesPerRank,
    ops: { setup: plan.program.setup.length, step: plan.program.step.length, byKind: opsByKind(plan) },
    collectives,
    commBytesPerStep: steps > 0 ? collectives.reduce((sum, c) => sum + c.bytesPerRun, 0) / steps : 0,
    time: {
      gpu: plan.cost.gpu,
      setupSeconds: plan.cost.setupSeconds,
      meanStepSeconds: steps > 0 ? (plan.cost.totalSeconds - plan.cost.setupSeconds) / steps : 0,
      fastestStepSeconds: stepSeconds.length > 0 ? Math.min(...stepSeconds) : 0,
      slowestStepSeconds: stepSeconds.length > 0 ? Math.max(...stepSeconds) : 0,
      totalSeconds: plan.cost.totalSeconds,
    },
  };
}
