/**
 * What PipeFusion's per-stage ops mean for the buffers and weights they name, for the memory plan and the
 * weight table: a name only ops of some stages touch lives only on those stages' ranks (an op without `stage`
 * runs on every stage), so buffers of disjoint stage sets may share arena bytes and a rank loads only its
 * stages' weights. Also the lifetimes point-to-point transfers add (ops.ts, `send`/`recv`): a receive is
 * posted when its phase starts and a send may still read its buffer until the phase ends.
 */
import { opBuffers } from "./op-buffers.js";
import type { Op } from "./ops.js";

/** The stages using a name, or every stage. */
export type StageSet = ReadonlySet<number> | "all";

/** The stage set of every name the programs' ops read or write. */
export function stagesOf(programs: readonly (readonly Op[])[]): Map<string, StageSet> {
  const sets = new Map<string, Set<number> | "all">();
  for (const program of programs) {
    for (const op of program) {
      const { reads, writes } = opBuffers(op);
      for (const name of [...reads, ...writes]) {
        const set = sets.get(name);
        if (set === "all") continue;
        if (op.stage === undefined) sets.set(name, "all");
        else sets.set(name, (set ?? new Set<number>()).add(op.stage));
      }
    }
  }
  return sets;
}

/** Whether some rank uses both sets (then their bytes must not overlap). */
export function stagesMeet(a: StageSet, b: StageSet): boolean {
  if (a === "all" || b === "all") return true;
  for (const s of a) if (b.has(s)) return true;
  return false;
}

/** A stage set as a plan lists it: sorted, or undefined for every stage. */
export function stageList(set: StageSet | undefined): number[] | undefined {
  return set === undefined || set === "all" ? undefined : [...set].sort((x, y) => x - y);
}

/**
 * Widens the live spans (op ids, first write to last read) of transferred buffers: a `recv`'s buffer from the
 * first op of its phase (receives are pre-posted there), a `send`'s to the last op of its phase (the transfer
 * completes asynchronously). Ops without a phase count the whole program as their phase.
 */
export function widenTransferSpans(step: readonly Op[], live: Map<string, [number, number]>): void {
  const last = step.length - 1;
  const range = new Map<string, [number, number]>();
  for (const op of step) {
    const key = op.phase ?? "";
    const r = range.get(key);
    if (r) r[1] = op.id;
    else range.set(key, [op.id, op.id]);
  }
  for (const op of step) {
    if (op.op !== "send" && op.op !== "recv") continue;
    const [first, end] = op.phase === undefined ? [0, last] : range.get(op.phase)!;
    const name = op.op === "send" ? op.x : op.out;
    const span = live.get(name);
    if (!span) continue;
    if (op.op === "recv") span[0] = Math.min(span[0], first);
    else span[1] = Math.max(span[1], end);
  }
}
