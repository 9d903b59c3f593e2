/**
 * Which stage runs each setup op of a PipeFusion program: a setup op whose tables only one stage reads (a
 * block's text K/V projection) runs on that stage alone, so a rank neither computes nor keeps another stage's
 * tables; a table several stages read (the caption projection) is computed by all. Decided from the readers,
 * last setup op first, so a chain of setup ops follows its final consumer.
 */
import { opBuffers } from "../../plan/op-buffers.js";
import type { Op, OpInit } from "../../plan/ops.js";

/** Every stage (an op without `stage`). */
const ALL = -1;

function buffersOf(op: OpInit): { reads: readonly string[]; writes: readonly string[] } {
  return opBuffers({ ...op, id: 0 } as Op);
}

export function stageSetup(setup: readonly OpInit[], step: readonly OpInit[]): OpInit[] {
  const readers = new Map<string, Set<number>>();
  const read = (name: string, stage: number) => readers.set(name, (readers.get(name) ?? new Set<number>()).add(stage));
  for (const op of step) for (const name of buffersOf(op).reads) read(name, op.stage ?? ALL);
  const staged: OpInit[] = new Array<OpInit>(setup.length);
  for (let i = setup.length - 1; i >= 0; i--) {
    const op = setup[i]!;
    const { reads, writes } = buffersOf(op);
    const stages = new Set(writes.flatMap((w) => [...(readers.get(w) ?? [])]));
    const only = stages.size === 1 ? [...stages][0]! : ALL;
    staged[i] = only === ALL ? op : ({ ...op, stage: only } as OpInit);
    for (const name of reads) read(name, only);
  }
  return staged;
}
