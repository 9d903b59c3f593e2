/**
 * Pairs a plan's point-to-point ops as the ranks will run them, so a plan whose sends and receives disagree is
 * caught before any rank hangs on it (xDiT negotiates shapes at run time and hangs there, xdit.md §2.2). On the
 * pipefusion axis, a `send` to `next` on stage s meets a `recv` from `prev` on stage (s + 1) mod P; messages on
 * one directed channel match in program order, so every channel must carry the same number of messages with
 * the same element count and dtype on both ends. Within a step both ends run the step's pattern; the pipeline
 * ring (`latentRing`) carries the last stage's sends of step t to stage 0's receives of step t + 1.
 */
import { inPhase } from "./pattern-runs.js";
import { opBuffers } from "./op-buffers.js";
import type { Op, RecvOp, SendOp } from "./ops.js";
import type { Plan, PlanPattern } from "./types.js";

type Transfer = SendOp | RecvOp;

const product = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** Values one transfer carries: its view, or the view's slice. */
export function messageValues(op: Transfer): number {
  return op.slice ? (product(op.dims) / op.dims[op.slice.dim]!) * op.slice.count : product(op.dims);
}

interface Message {
  readonly id: number;
  readonly values: number;
  readonly dtype: string;
}

/** Every way the plan's transfers fail to pair up or to fit their buffers; [] when none does. */
export function transferProblems(plan: Plan): string[] {
  const problems: string[] = [];
  const transfers = plan.program.step.filter((op): op is Transfer => op.op === "send" || op.op === "recv");
  if (transfers.length === 0) return problems;
  const stages = plan.mesh.axes.find((a) => a.name === "pipefusion")?.degree ?? 1;
  const buffers = new Map(plan.buffers.map((b) => [b.name, b]));
  for (const op of [...plan.program.setup].filter((o) => o.op === "send" || o.op === "recv")) problems.push(`setup op ${op.id} (${op.op}): transfers belong to the step program`);
  for (const op of transfers) {
    const where = `step op ${op.id} (${op.op})`;
    if (op.axis !== "pipefusion") problems.push(`${where} sends over ${op.axis}; only the pipefusion axis pairs stages`);
    if (op.stage === undefined || op.stage < 0 || op.stage >= stages) problems.push(`${where} has no stage of the ${stages} pipeline stages`);
    const name = opBuffers(op).reads[0] ?? opBuffers(op).writes[0]!;
    const b = buffers.get(name);
    if (!b) problems.push(`${where} names \`${name}\`, which is not a declared buffer`);
    else if (product(b.shape) !== product(op.dims)) problems.push(`${where}: \`${name}\` holds ${product(b.shape)} values, not the ${product(op.dims)} of its view`);
    if (op.slice && (op.slice.dim > 3 || op.slice.first + op.slice.count > op.dims[op.slice.dim]!)) {
      problems.push(`${where}: slice [${op.slice.first}, ${op.slice.first + op.slice.count}) leaves dim ${op.slice.dim} of its view`);
    }
  }
  if (problems.length > 0) return problems;

  const message = (op: Transfer): Message => ({ id: op.id, values: messageValues(op), dtype: buffers.get(opBuffers(op).reads[0] ?? opBuffers(op).writes[0]!)!.dtype });
  /** Messages on channel from → (from + 1) mod P that one end runs in a step of `pattern`. */
  const channel = (pattern: PlanPattern, from: number, end: "send" | "recv", ring: boolean): Message[] =>
    transfers
      .filter((op) => op.op === end && Boolean(op.latentRing) === ring && inPhase(op, pattern))
      .filter((op) => (end === "send" ? op.peer === "next" && op.stage === from : op.peer === "prev" && op.stage === (from + 1) % stages))
      .map(message);
  const compare = (what: string, sent: readonly Message[], received: readonly Message[]) => {
    if (sent.length !== received.length) {
      problems.push(`${what}: ${sent.length} sends meet ${received.length} receives`);
      return;
    }
    sent.forEach((s, i) => {
      const r = received[i]!;
      if (s.values !== r.values || s.dtype !== r.dtype) problems.push(`${what}: send op ${s.id} carries ${s.values} ${s.dtype} values, its receive op ${r.id} expects ${r.values} ${r.dtype}`);
    });
  };
  for (const pattern of plan.patterns) {
    for (let from = 0; from < stages; from++) {
      compare(`pattern ${pattern.id}, stage ${from} to ${(from + 1) % stages}`, channel(pattern, from, "send", false), channel(pattern, from, "recv", false));
    }
  }
  for (let step = 0; step + 1 < plan.steps.length; step++) {
    const now = plan.patterns[plan.steps[step]!.pattern];
    const next = plan.patterns[plan.steps[step + 1]!.pattern];
    if (!now || !next) continue;
    compare(`the pipeline ring from step ${step} to ${step + 1}`, channel(now, stages - 1, "send", true), channel(next, stages - 1, "recv", true));
  }
  const first = plan.patterns[plan.steps[0]?.pattern ?? -1];
  const last = plan.patterns[plan.steps[plan.steps.length - 1]?.pattern ?? -1];
  if (first && channel(first, stages - 1, "recv", true).length > 0) problems.push("stage 0 receives the pipeline ring on the first step, which nobody sends");
  if (last && channel(last, stages - 1, "send", true).length > 0) problems.push("the last stage sends the pipeline ring on the last step, which nobody receives");
  return problems;
}
