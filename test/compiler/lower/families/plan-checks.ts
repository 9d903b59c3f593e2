/**
 * Checks shared by the family lowering tests: picking a plan's ops apart (all of them, one block's, a readable
 * label), a buffer's shape, how often each checkpoint tensor is read, and the buffers left dangling. The
 * checkpoint table is the plan's own family's (compiler/models/registry.ts), at the plan's hyperparameters.
 * Validating and lowering a pipeline text (`lowerText`, through `checked`, which asserts the checker accepts it)
 * and reading a committed file (`repoText`) live in test/compiler/plan/lowered.ts and are re-exported here, with
 * `lowerFile` for a committed pipeline.
 */
import { familyInfo } from "../../../../compiler/models/registry.js";
import { opBuffers } from "../../../../compiler/plan/op-buffers.js";
import type { Op } from "../../../../compiler/plan/ops.js";
import type { Plan } from "../../../../compiler/plan/types.js";
import { lowerText, repoText } from "../../plan/lowered.js";

export { lowerText, repoText } from "../../plan/lowered.js";

/** A committed pipeline (a path from the repository root), validated and lowered. */
export function lowerFile(path: string): Plan {
  return lowerText(path, repoText(path));
}

/** Every op of the plan: setup, then step. */
export const allOps = (plan: Plan): Op[] => [...plan.program.setup, ...plan.program.step];

/** The step ops of one spatial or temporal block (the two kinds are counted separately). */
export const blockOps = (plan: Plan, kind: "spatial" | "temporal", index: number): Op[] =>
  plan.program.step.filter((o) => o.blockKind === kind && o.block === index);

/** An op's name, a Linear's with its weight: `linear blocks.1.attn.qkv.weight`. */
export const label = (o: Op): string => (o.op === "linear" ? `linear ${o.weight}` : o.op);

/** The shape of a declared buffer, undefined where none has the name. */
export const shapeOf = (plan: Plan, name: string) => plan.buffers.find((b) => b.name === name)?.shape;

/** The names of the plan's family's checkpoint tensors, at the plan's hyperparameters. */
function checkpointNames(plan: Plan): Set<string> {
  return new Set(familyInfo(plan.model.family)!.weights(plan.model.hyper).map((w) => w.name));
}

/** Every op's reads that are checkpoint tensors, over setup and step, counted. */
export function weightReads(plan: Plan): Map<string, number> {
  const table = checkpointNames(plan);
  const counts = new Map<string, number>();
  for (const op of allOps(plan)) {
    for (const name of opBuffers(op).reads) if (table.has(name)) counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

export interface Dangling {
  /** Names an op reads or writes that are neither a declared buffer nor (for a read) a checkpoint tensor. */
  readonly undeclared: string[];
  /** Declared buffers nothing writes (no op, no input). */
  readonly unwritten: string[];
  /** Declared buffers nothing reads (no op, not an output). */
  readonly unread: string[];
  /** Step activations a step op reads before any step op has written them. */
  readonly readBeforeWrite: string[];
}

/** A plan with nothing dangling. */
export const CLEAN: Dangling = { undeclared: [], unwritten: [], unread: [], readBeforeWrite: [] };

/**
 * Names an op reads that are neither a declared buffer nor a checkpoint tensor, declared buffers nothing writes
 * (no op, no input) or nothing reads, and step activations read before the step writes them.
 */
export function dangling(plan: Plan): Dangling {
  const weights = checkpointNames(plan);
  const declared = new Map(plan.buffers.map((b) => [b.name, b]));
  const written = new Set(plan.inputs.map((i) => i.buffer));
  const read = new Set(plan.outputs.map((o) => o.buffer));
  const undeclared = new Set<string>();
  const readBeforeWrite = new Set<string>();
  const stepWritten = new Set<string>();
  for (const [phase, ops] of [["setup", plan.program.setup], ["step", plan.program.step]] as const) {
    for (const op of ops) {
      const { reads, writes } = opBuffers(op);
      for (const r of reads) {
        read.add(r);
        if (!declared.has(r) && !weights.has(r)) undeclared.add(r);
        if (phase === "step" && declared.get(r)?.role === "activation" && !stepWritten.has(r)) readBeforeWrite.add(r);
      }
      for (const w of writes) {
        written.add(w);
        if (phase === "step") stepWritten.add(w);
        if (!declared.has(w)) undeclared.add(w);
      }
    }
  }
  const names = [...declared.keys()];
  return {
    undeclared: [...undeclared],
    unwritten: names.filter((n) => !written.has(n)),
    unread: names.filter((n) => !read.has(n)),
    readBeforeWrite: [...readBeforeWrite],
  };
}
