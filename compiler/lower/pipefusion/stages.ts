/**
 * Splits the step ops of one lowering pass (warm-up or one band) into pipeline stages, and finds what crosses
 * each stage boundary. The ops come from the family's lowering in program order: a prologue, the blocks (tagged
 * with their block), the tail.
 * - Block ops go to their block's stage (settings.ts); an untagged op between blocks stays with the block
 *   before it.
 * - Prologue ops that read the latent, or anything such an op wrote (patch embedding, its positional add),
 *   belong to stage 0. The rest of the prologue (timestep embedding, size and label embeddings: per-sample
 *   conditioning, read by every stage's blocks) is replicated: every stage computes it, which costs less than
 *   sending it.
 * - Tail ops (after the last block) belong to the last stage.
 * An activation is sent across boundary b (stage b to b + 1) when a stage at or before b writes it and a stage
 * after b reads it: the residual stream for every family lowered so far. Found from the ops' reads and
 * writes, so a family whose blocks hand on more than one buffer is covered too.
 */
import { opBuffers } from "../../plan/op-buffers.js";
import type { Op } from "../../plan/ops.js";
import { stageOfBlock } from "./settings.js";

export interface StagedPass {
  /** Prologue ops every stage runs, in program order. */
  readonly replicated: readonly Op[];
  /** The ops of each stage, in program order. */
  readonly stages: readonly (readonly Op[])[];
  /** Activations sent from stage b to stage b + 1, indexed by b, in order of first write. */
  readonly transfers: readonly (readonly string[])[];
  /** Blocks in program order, as "spatial:3", with their stage. */
  readonly blocks: readonly { readonly key: string; readonly stage: number }[];
}

function blockKey(op: Op): string | undefined {
  return op.block === undefined ? undefined : `${op.blockKind ?? "spatial"}:${op.block}`;
}

/**
 * Stages the ops of one pass. `activations` are the pass's within-step buffers; `latent` the latent state,
 * whose readers in the prologue mark stage 0's part of it.
 */
export function stagePass(ops: readonly Op[], activations: ReadonlySet<string>, latent: string, stageCount: number): StagedPass {
  const order: string[] = [];
  for (const op of ops) {
    const key = blockKey(op);
    if (key !== undefined && !order.includes(key)) order.push(key);
  }
  if (order.length === 0) throw new Error("a PipeFusion pass has no block ops to split into stages");
  const stageOfKey = new Map(order.map((key, position) => [key, stageOfBlock(position, order.length, stageCount)]));
  const firstBlockOp = ops.findIndex((o) => blockKey(o) !== undefined);
  let lastBlockOp = ops.length - 1;
  while (blockKey(ops[lastBlockOp]!) === undefined) lastBlockOp--;

  const stageOf: (number | undefined)[] = [];
  const embedded = new Set<string>([latent]);
  let current = 0;
  ops.forEach((op, i) => {
    const key = blockKey(op);
    const { reads, writes } = opBuffers(op);
    if (key !== undefined) {
      current = stageOfKey.get(key)!;
      stageOf.push(current);
    } else if (i < firstBlockOp) {
      const stage0 = reads.some((r) => embedded.has(r));
      if (stage0) for (const w of writes) embedded.add(w);
      stageOf.push(stage0 ? 0 : undefined);
    } else {
      stageOf.push(i > lastBlockOp ? stageCount - 1 : current);
    }
  });

  const replicated: Op[] = [];
  const stages: Op[][] = Array.from({ length: stageCount }, () => []);
  ops.forEach((op, i) => {
    const s = stageOf[i];
    if (s === undefined) replicated.push(op);
    else stages[s]!.push(op);
  });

  return { replicated, stages, transfers: transfersOf(ops, stageOf, activations, latent, stageCount), blocks: order.map((key) => ({ key, stage: stageOfKey.get(key)! })) };
}

/** The activations crossing each boundary; a non-activation written on one stage and read on another is a bug. */
function transfersOf(
  ops: readonly Op[],
  stageOf: readonly (number | undefined)[],
  activations: ReadonlySet<string>,
  latent: string,
  stageCount: number,
): string[][] {
  const firstWriter = new Map<string, number>();
  const lastReader = new Map<string, number>();
  const writeOrder: string[] = [];
  const writersOf = new Map<string, Set<number>>();
  const readersOf = new Map<string, Set<number>>();
  const add = (map: Map<string, Set<number>>, name: string, s: number) => map.set(name, (map.get(name) ?? new Set<number>()).add(s));
  ops.forEach((op, i) => {
    const s = stageOf[i];
    if (s === undefined) return;
    const { reads, writes } = opBuffers(op);
    for (const w of writes) {
      if (!firstWriter.has(w)) {
        firstWriter.set(w, s);
        writeOrder.push(w);
      }
      add(writersOf, w, s);
    }
    for (const r of reads) {
      lastReader.set(r, Math.max(lastReader.get(r) ?? -1, s));
      add(readersOf, r, s);
    }
  });
  for (const [name, writers] of writersOf) {
    if (activations.has(name) || name === latent) continue;
    const foreign = [...(readersOf.get(name) ?? [])].filter((r) => !writers.has(r));
    if (foreign.length > 0) {
      throw new Error(`${name} is written on stage ${[...writers].join(", ")} and read on stage ${foreign.join(", ")}, but only activations are sent between stages`);
    }
  }
  const transfers: string[][] = [];
  for (let b = 0; b + 1 < stageCount; b++) {
    transfers.push(writeOrder.filter((name) => activations.has(name) && firstWriter.get(name)! <= b && (lastReader.get(name) ?? -1) > b));
  }
  return transfers;
}
