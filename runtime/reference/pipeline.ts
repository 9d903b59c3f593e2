/**
 * All ranks of a PipeFusion plan (compiler/lower/pipefusion/lower-pipefusion.ts) in one process, in float64: the
 * ranks of different pipeline stages run their own op sequences, so they cannot advance in lockstep (ranks.ts).
 * A cooperative scheduler runs them instead:
 *
 *   per rank: memory and inputs as in ranks.ts; a cursor over the setup program, then each step's program
 *   repeat: each rank in turn runs its ops in order, skipping those it does not run (interpret.ts `opRuns`: a
 *           `stage` other than its pipefusion coordinate, another `phase`, a latent-ring transfer the step's
 *           pattern leaves out), until it blocks or finishes
 *   until every rank has finished; a round in which no rank moves is a deadlock, reported with each rank's
 *   blocking op
 *
 * A rank starting a step sets its own step index and timestep (so stage 0 may start step t + 1 while the last
 * stage still works on step t, as the pre-posted receives allow on the devices). A rank blocks at:
 * - a `recv` whose channel (collectives/point-to-point.ts: one FIFO per (sender, receiver), sender the rank's
 *   `prev` on the op's axis) holds no message yet; a `send` never blocks: it queues a copy of its view;
 * - a collective (`all_to_all`, `all_gather`, ring `self_attention`: ranks.ts `collectiveOf`) until every member
 *   of its group on the op's axis (cfg inside a stage, ulysses inside a stage) waits at the same op of the same
 *   step; then it runs once on the group (collectives/) and the members go on.
 * Every other op runs on the rank alone (dispatch.ts), `self_attention` with `kvCache` through the block's K/V
 * buffer (ops/self-attention.ts). A message nobody receives by the end is a plan defect and an error.
 */
import type { Op } from "../../compiler/plan/ops.js";
import type { Plan, PlanPattern } from "../../compiler/plan/types.js";
import { deliver, Mailboxes, messageOf, peerOf } from "./collectives/point-to-point.js";
import { describeOp, runOp } from "./dispatch.js";
import { fillTimestep, type RunInputs } from "./inputs.js";
import { inOpContext, opRuns, rankOutputs, stepCount, stepPattern, type ProgramName } from "./interpret.js";
import type { Memory } from "./memory.js";
import { collectiveOf, groupsOf, rankMemories, type RanksResult } from "./ranks.js";

export interface PipelineOptions {
  /** How many steps to run, from the first (default: all of the plan's). */
  readonly steps?: number;
  /** Called after an op has run on a rank (a collective: on each member of its group), with that rank's memory. */
  readonly afterOp?: (op: Op, mem: Memory, program: ProgramName) => void;
}

/** One program a rank runs in turn: the setup program, or the step program of one step. */
interface Segment {
  readonly program: ProgramName;
  readonly ops: readonly Op[];
  /** The step's pattern; null for setup. */
  readonly pattern: PlanPattern | null;
  readonly step: number;
}

/** Where a rank is: the segment and op it runs next, and whether it waits there for a collective's group. */
interface Cursor {
  segment: number;
  at: number;
  /** Set when the rank has reached the collective at its cursor and waits for the rest of its group. */
  waiting: boolean;
  /** Set once the rank has entered its current segment (a step: set its step index and timestep). */
  entered: boolean;
}

/** What a rank's turn came to. */
type Turn = "moved" | "blocked" | "done";

class Scheduler {
  private readonly mailboxes = new Mailboxes();
  private readonly cursors: Cursor[];

  constructor(
    private readonly plan: Plan,
    private readonly mems: readonly Memory[],
    private readonly segments: readonly Segment[],
    private readonly inputs: RunInputs,
    private readonly options: PipelineOptions,
  ) {
    this.cursors = mems.map(() => ({ segment: 0, at: 0, waiting: false, entered: false }));
  }

  /**
   * Runs every rank to the end of the last segment, or throws on a deadlock. `complete`: the run covers all of
   * the plan's steps, so every message sent must have been received (a shorter run leaves the last step's
   * latent-ring sends for a step it does not run).
   */
  run(complete: boolean): void {
    for (;;) {
      let moved = false;
      let done = 0;
      for (let r = 0; r < this.mems.length; r++) {
        const turn = this.turn(r);
        if (turn === "moved") moved = true;
        if (turn === "done") done++;
      }
      if (done === this.mems.length) break;
      if (!moved) throw new Error(`PipeFusion deadlock: no rank can move. ${this.mems.map((_, r) => this.blockedAt(r)).join("; ")}`);
    }
    const left = this.mailboxes.undelivered();
    if (complete && left.length > 0) throw new Error(`messages nobody received by the end of the run, by channel (sender->receiver): ${left.join(", ")}`);
  }

  /** Runs rank r's ops until it blocks or finishes; "moved" if it ran or passed at least one op. */
  private turn(r: number): Turn {
    const cursor = this.cursors[r]!;
    const mem = this.mems[r]!;
    let moved = false;
    while (cursor.segment < this.segments.length) {
      const seg = this.segments[cursor.segment]!;
      if (!cursor.entered) {
        cursor.entered = true;
        mem.step = seg.step;
        if (seg.program === "step") fillTimestep(mem, seg.step, this.inputs);
      }
      const op = seg.ops[cursor.at];
      if (op === undefined) {
        cursor.segment++;
        cursor.at = 0;
        cursor.entered = false;
        moved = true;
        continue;
      }
      if (!opRuns(op, seg.pattern, mem.rank)) {
        cursor.at++;
        moved = true;
        continue;
      }
      let ran = true;
      inOpContext(op, seg.program, seg.step, () => {
        ran = this.runOne(r, op, seg);
      });
      if (!ran) return moved ? "moved" : "blocked";
      moved = true;
    }
    return moved ? "moved" : "done";
  }

  /** Runs op on rank r (a collective: on its group once all members wait at it); false if r must wait. */
  private runOne(r: number, op: Op, seg: Segment): boolean {
    const mem = this.mems[r]!;
    const cursor = this.cursors[r]!;
    if (op.op === "send") {
      this.mailboxes.post(r, peerOf(op, r, groupsOf(this.plan, op, op.axis)), messageOf(op, mem));
      this.after(op, mem, seg, cursor);
      return true;
    }
    if (op.op === "recv") {
      const message = this.mailboxes.take(peerOf(op, r, groupsOf(this.plan, op, op.axis)), r);
      if (!message) return false;
      deliver(op, mem, message);
      this.after(op, mem, seg, cursor);
      return true;
    }
    const collective = collectiveOf(op);
    if (!collective) {
      runOp(op, mem);
      this.after(op, mem, seg, cursor);
      return true;
    }
    const group = groupsOf(this.plan, op, collective.axis).find((g) => g.includes(r));
    if (!group) throw new Error(`rank ${r} is in no ${collective.axis} group`);
    cursor.waiting = true;
    const here = (m: number) => {
      const c = this.cursors[m];
      return c !== undefined && c.waiting && c.segment === cursor.segment && c.at === cursor.at;
    };
    if (!group.every(here)) return false;
    const members = group.map((m) => this.mems[m]!);
    collective.run(op, members);
    for (const m of group) {
      const c = this.cursors[m]!;
      c.waiting = false;
      this.after(op, this.mems[m]!, seg, c);
    }
    return true;
  }

  /** Moves a cursor past the op that ran and reports the op. */
  private after(op: Op, mem: Memory, seg: Segment, cursor: Cursor): void {
    cursor.at++;
    this.options.afterOp?.(op, mem, seg.program);
  }

  /** Where rank r stands, for the deadlock message. */
  private blockedAt(r: number): string {
    const cursor = this.cursors[r]!;
    const stage = this.mems[r]!.rank.coords["pipefusion"] ?? 0;
    const seg = this.segments[cursor.segment];
    const op = seg?.ops[cursor.at];
    if (!seg || !op) return `rank ${r} (stage ${stage}) has finished`;
    const where = seg.program === "step" ? `step ${seg.step}` : "setup";
    if (op.op === "recv") {
      const from = peerOf(op, r, groupsOf(this.plan, op, op.axis));
      return `rank ${r} (stage ${stage}) waits at ${where} ${describeOp(op)} for a message from rank ${from}`;
    }
    return `rank ${r} (stage ${stage}) waits at ${where} ${describeOp(op)} for the rest of its ${collectiveOf(op)?.axis ?? "?"} group`;
  }
}

/**
 * Runs a PipeFusion `plan` on every rank of its mesh (see the top of this file): `weights` by checkpoint name,
 * `inputs` the whole run's values. Returns every rank's outputs after the last step run (the final latent on the
 * last stage's ranks, rankOutputs) and memories.
 */
export function runPipeline(plan: Plan, weights: ReadonlyMap<string, Float64Array>, inputs: RunInputs, options: PipelineOptions = {}): RanksResult {
  const steps = stepCount(plan, options.steps);
  const mems = rankMemories(plan, weights, inputs);
  const segments: Segment[] = [{ program: "setup", ops: plan.program.setup, pattern: null, step: 0 }];
  for (let i = 0; i < steps; i++) segments.push({ program: "step", ops: plan.program.step, pattern: stepPattern(plan, i), step: i });
  new Scheduler(plan, mems, segments, inputs, options).run(steps === plan.steps.length);
  return { outputs: mems.map(rankOutputs), memories: mems };
}
