/**
 * The static memory plan of one rank: every buffer gets a byte offset in one arena allocated before the step
 * loop. Buffers that outlive a step (inputs, tables, state, caches, outputs) get space of their own;
 * activations share space by liveness: each is placed at the lowest offset free over its whole lifetime
 * (first write to last read within the step program), first-fit in order of first write.
 * PipeFusion (ops with `stage`): activations, caches and tables that only some stages use may share bytes with
 * those of other stages, and a point-to-point transfer holds its buffer for its whole phase (stage-sets.ts).
 */
import type { DeclaredBuffer } from "../lower/program/builder.js";
import { opBuffers } from "./op-buffers.js";
import type { Op } from "./ops.js";
import { stageList, stagesMeet, stagesOf, widenTransferSpans, type StageSet } from "./stage-sets.js";
import type { PlanBuffer, PlanDtype } from "./types.js";

/** Every buffer starts on a 256-byte boundary (what GPU kernels and vector loads want). */
const ALIGN = 256;

/** Roles whose buffers only the ops touch, so PipeFusion may keep them on some stages only. */
const STAGED_ROLES: ReadonlySet<string> = new Set(["activation", "cache", "table"]);

export const DTYPE_BYTES: Readonly<Record<PlanDtype, number>> = { f32: 4, bf16: 2, f16: 2, i32: 4 };

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

export function bufferBytes(b: { shape: readonly number[]; dtype: PlanDtype }): number {
  return b.shape.reduce((a, d) => a * d, 1) * DTYPE_BYTES[b.dtype];
}

export interface MemoryPlan {
  readonly buffers: PlanBuffer[];
  readonly arenaBytes: number;
  /** Bytes of buffers that live across steps, and the peak of the shared activation region. */
  readonly persistentBytes: number;
  readonly activationBytes: number;
}

export function planMemory(declared: readonly DeclaredBuffer[], step: readonly Op[], setup: readonly Op[] = []): MemoryPlan {
  const live = new Map<string, [number, number]>();
  for (const op of step) {
    const { reads, writes } = opBuffers(op);
    for (const name of [...reads, ...writes]) {
      const span = live.get(name);
      if (span) span[1] = op.id;
      else live.set(name, [op.id, op.id]);
    }
  }
  // PipeFusion: transfers lengthen lifetimes, and buffers only disjoint stages use may share bytes.
  widenTransferSpans(step, live);
  // Inputs, state and outputs are filled or read by the runtime on every rank, whatever the ops' stages.
  const stages = stagesOf([setup, step]);
  const stageSet = (b: DeclaredBuffer): StageSet => (STAGED_ROLES.has(b.role) ? (stages.get(b.name) ?? "all") : "all");
  const listed = (b: PlanBuffer): PlanBuffer => {
    const list = stageList(stageSet(b));
    return list ? { ...b, stages: list } : b;
  };
  const out: PlanBuffer[] = [];
  let offset = 0;
  for (const b of declared) {
    if (b.role === "activation" || stageSet(b) !== "all") continue;
    const bytes = bufferBytes(b);
    out.push({ ...b, offset, bytes });
    offset += align(bytes);
  }
  // Persistent buffers of some stages only (PipeFusion's K/V buffers, a stage's tables): first-fit above the
  // shared ones, overlapping those of other stages.
  const stagedPlaced: { start: number; end: number; set: StageSet }[] = [];
  let persistentBytes = offset;
  for (const b of declared) {
    if (b.role === "activation" || stageSet(b) === "all") continue;
    const bytes = bufferBytes(b);
    const set = stageSet(b);
    let at = offset;
    for (const p of stagedPlaced.filter((q) => stagesMeet(q.set, set)).sort((x, y) => x.start - y.start)) {
      if (at + bytes <= p.start) break;
      at = Math.max(at, p.end);
    }
    stagedPlaced.push({ start: at, end: align(at + bytes), set });
    persistentBytes = Math.max(persistentBytes, align(at + bytes));
    out.push(listed({ ...b, offset: at, bytes }));
  }

  const activations = declared
    .filter((b) => b.role === "activation")
    .map((b) => ({ b, span: live.get(b.name) ?? ([0, 0] as [number, number]), bytes: bufferBytes(b) }))
    .sort((x, y) => x.span[0] - y.span[0] || y.bytes - x.bytes || (x.b.name < y.b.name ? -1 : 1));
  const placed: { start: number; end: number; first: number; last: number; set: StageSet }[] = [];
  let peak = 0;
  for (const a of activations) {
    const overlapping = placed
      .filter((p) => p.first <= a.span[1] && a.span[0] <= p.last && stagesMeet(p.set, stageSet(a.b)))
      .sort((x, y) => x.start - y.start);
    let at = 0;
    for (const p of overlapping) {
      if (at + a.bytes <= p.start) break;
      at = Math.max(at, p.end);
    }
    const end = align(at + a.bytes);
    placed.push({ start: at, end, first: a.span[0], last: a.span[1], set: stageSet(a.b) });
    peak = Math.max(peak, end);
    out.push(listed({ ...a.b, offset: persistentBytes + at, bytes: a.bytes, live: [a.span[0], a.span[1]] }));
  }
  return { buffers: out, arenaBytes: persistentBytes + peak, persistentBytes, activationBytes: peak };
}
