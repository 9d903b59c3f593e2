/**
 * PipeFusion's point-to-point transfers (compiler/plan/ops.ts SendOp, RecvOp) for the pipelined all-ranks
 * simulation (../pipeline.ts), in float64:
 * - a message is the values of a buffer viewed as the op's 4-D `dims`, or only its `slice` [first, first + count)
 *   along one dimension, in row-major order (compiler/plan/transfer-match.ts `messageValues` counts them);
 * - the peer of a rank is its neighbour in its group of the op's axis, in ring order (`next`: the following
 *   member, the last member's next being the first; `prev`: the one before);
 * - mailboxes: one FIFO queue per directed (sender, receiver) pair, so messages on one channel match in program
 *   order (ops.ts); a send copies its values into the receiver's queue at once (sends are asynchronous and the
 *   sender may not change x before the transfer completes, so the copy is what arrives), a receive takes the
 *   oldest message of its channel into its view, and waits while the channel is empty.
 */
import type { RecvOp, SendOp, ViewSlice } from "../../../compiler/plan/ops.js";
import { messageValues } from "../../../compiler/plan/transfer-match.js";
import type { RankGroup } from "../../../compiler/lower/mesh.js";
import { describeOp } from "../dispatch.js";
import type { Memory } from "../memory.js";
import { viewBuffer, viewSize } from "./collective.js";

type Transfer = SendOp | RecvOp;

/** The runs of a view a message covers: `outer` runs of `length` values, run o starting at o·stride + start. */
interface Runs {
  readonly outer: number;
  readonly stride: number;
  readonly start: number;
  readonly length: number;
}

function runsOf(dims: readonly number[], slice: ViewSlice | undefined): Runs {
  if (!slice) return { outer: 1, stride: 0, start: 0, length: viewSize(dims) };
  const inner = viewSize(dims.slice(slice.dim + 1));
  return { outer: viewSize(dims.slice(0, slice.dim)), stride: dims[slice.dim]! * inner, start: slice.first * inner, length: slice.count * inner };
}

/** The message a send carries: a copy of its view of x. */
export function messageOf(op: SendOp, mem: Memory): Float64Array {
  const x = viewBuffer(op, mem, op.x, viewSize(op.dims));
  const runs = runsOf(op.dims, op.slice);
  const message = new Float64Array(runs.outer * runs.length);
  for (let o = 0; o < runs.outer; o++) {
    const from = o * runs.stride + runs.start;
    message.set(x.subarray(from, from + runs.length), o * runs.length);
  }
  return message;
}

/** Writes a received message into the receive's view of out, after checking it is the size the view expects. */
export function deliver(op: RecvOp, mem: Memory, message: Float64Array): void {
  const expected = messageValues(op);
  if (message.length !== expected) throw new Error(`${describeOp(op)}: received ${message.length} values, but its view expects ${expected}`);
  const out = viewBuffer(op, mem, op.out, viewSize(op.dims));
  const runs = runsOf(op.dims, op.slice);
  for (let o = 0; o < runs.outer; o++) out.set(message.subarray(o * runs.length, (o + 1) * runs.length), o * runs.stride + runs.start);
}

/** The global rank of `rank`'s `peer` neighbour within its group (ring order). */
export function peerOf(op: Transfer, rank: number, groups: readonly RankGroup[]): number {
  const group = groups.find((g) => g.includes(rank));
  if (!group) throw new Error(`${describeOp(op)}: rank ${rank} is in no ${op.axis} group`);
  const i = group.indexOf(rank);
  const n = group.length;
  return group[op.peer === "next" ? (i + 1) % n : (i - 1 + n) % n]!;
}

/** The FIFO queues of every directed (sender, receiver) channel. */
export class Mailboxes {
  private readonly queues = new Map<string, Float64Array[]>();

  private queue(from: number, to: number): Float64Array[] {
    const key = `${from}->${to}`;
    let q = this.queues.get(key);
    if (!q) {
      q = [];
      this.queues.set(key, q);
    }
    return q;
  }

  /** Queues a message from `from` to `to`. */
  post(from: number, to: number, message: Float64Array): void {
    this.queue(from, to).push(message);
  }

  /** The oldest message from `from` to `to`, removed from its queue; undefined while none has been sent. */
  take(from: number, to: number): Float64Array | undefined {
    return this.queue(from, to).shift();
  }

  /** Channels still holding messages nobody received, as "from->to (count)". */
  undelivered(): string[] {
    return [...this.queues].filter(([, q]) => q.length > 0).map(([key, q]) => `${key} (${q.length})`);
  }
}
