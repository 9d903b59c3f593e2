/**
 * Merges the passes of a PipeFusion program into one namespace. Each pass was lowered into a builder of its
 * own, so its within-step buffers carry the family's plain names ("x", "spatial.3.attn.qkv") with the pass's
 * sizes; here they get the pass's prefix ("warmup.x", "band2.x"), while buffers that outlive a step (the
 * latent, inputs, tables, K/V buffers) keep their names and must agree in shape across passes (the builder
 * throws otherwise). The replicated prologue (per-sample conditioning, staging in stages.ts) is the same in
 * every pass, so it is computed once per step, ahead of both phases, under its plain names.
 */
import { opBuffers } from "../../plan/op-buffers.js";
import type { Op, OpInit } from "../../plan/ops.js";
import type { ProgramBuilder } from "../program/builder.js";
import type { PassRun } from "./run-pass.js";
import type { StagedPass } from "./stages.js";

/** Op fields whose string values are never buffer names. */
const NOT_BUFFERS = new Set(["op", "activation", "solver", "axis", "blockKind", "pab", "variance", "peer", "phase", "dim"]);

/** The op without its id, every buffer name in it mapped through `rename`. */
export function renameOp(op: Op, rename: (name: string) => string): OpInit {
  const { id: _id, ...init } = op;
  return mapNames(init, rename) as OpInit;
}

function mapNames(value: unknown, rename: (name: string) => string, key?: string): unknown {
  if (typeof value === "string") return key !== undefined && NOT_BUFFERS.has(key) ? value : rename(value);
  if (Array.isArray(value)) return value.map((v) => mapNames(v, rename, key));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapNames(v, rename, k)]));
  }
  return value;
}

function touches(op: Op): string[] {
  const { reads, writes } = opBuffers(op);
  return [...reads, ...writes];
}

function withoutId(op: Op): string {
  const { id: _id, ...init } = op;
  return JSON.stringify(init);
}

/** Names the replicated prologue writes and reads, with their declarations, for comparing passes. */
function prologueSignature(run: PassRun, staged: StagedPass): string {
  const shapes = new Map(run.buffers.map((b) => [b.name, `${b.role}:${b.dtype}:${b.shape.join("x")}`]));
  const touched = new Set(staged.replicated.flatMap(touches));
  return JSON.stringify([staged.replicated.map(withoutId), [...touched].sort().map((n) => shapes.get(n) ?? "")]);
}

export interface PassNames {
  /** Whether the replicated prologue is emitted once for all passes (the same in every pass). */
  readonly hoisted: boolean;
  /** The merged name of a buffer of pass `i`. */
  rename(pass: number, name: string): string;
}

export function passNames(runs: readonly PassRun[], staged: readonly StagedPass[]): PassNames {
  const signatures = runs.map((run, i) => prologueSignature(run, staged[i]!));
  const hoisted = signatures.every((s) => s === signatures[0]);
  const activations = runs.map((run) => new Set(run.buffers.filter((b) => b.role === "activation").map((b) => b.name)));
  const shared = new Set<string>();
  if (hoisted) {
    for (const name of staged[0]!.replicated.flatMap(touches)) if (activations[0]!.has(name)) shared.add(name);
  }
  return {
    hoisted,
    rename(pass, name) {
      if (!activations[pass]!.has(name) || shared.has(name)) return name;
      return `${runs[pass]!.prefix}${name}`;
    },
  };
}

/** Declares every pass's buffers under their merged names and registers the weights the passes read. */
export function declarePasses(b: ProgramBuilder, runs: readonly PassRun[], names: PassNames): void {
  runs.forEach((run, i) => {
    for (const buffer of run.buffers) b.buffer(names.rename(i, buffer.name), buffer.shape, buffer.role, buffer.dtype);
    for (const weight of run.weightsRead) b.weight(weight);
  });
}

/** The setup ops of all passes, renamed, each distinct op once (passes repeat the tables they share). */
export function mergedSetup(runs: readonly PassRun[], names: PassNames): OpInit[] {
  const seen = new Set<string>();
  const out: OpInit[] = [];
  runs.forEach((run, i) => {
    for (const op of run.setup) {
      const init = renameOp(op, (n) => names.rename(i, n));
      const key = JSON.stringify(init);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(init);
    }
  });
  return out;
}
