/**
 * The pure parts of scripts/gpu/multi-common.mjs, which the multi-GPU scripts (check-multi.mjs, bench-scaling.mjs)
 * judge and report with. Their smoke runs (`--smoke`, CPU backend) exercise the rest here, but never the CUDA
 * profile: the CPU backend prints no profile table, so the parser of the table OPENDIT_CUDA_PROFILE=1 prints
 * (native/src/cuda/backend.cu profile_report) and the choice of its communication rows are checked here against
 * text in that printf format, with ring attention keys taken from a real compiled plan.
 */
import { describe, expect, it } from "vitest";
import { compile } from "../../compiler/compile.js";
import type { Plan } from "../../compiler/plan/types.js";

interface ProfileTable {
  readonly totalMs: number;
  readonly steps?: number;
  readonly warmupMs?: number;
  readonly rows: readonly { readonly ms: number; readonly calls: number; readonly key: string }[];
}
interface MultiCommon {
  worldOf(layout: string | undefined): number;
  maxRelativeError(a: ArrayLike<number>, b: ArrayLike<number>): number;
  rmsRelativeError(a: ArrayLike<number>, b: ArrayLike<number>): number;
  stepTimes(events: readonly object[]): { perStep: (number | undefined)[]; warmup: number | undefined; median: number | undefined };
  parseCudaProfile(text: string): ProfileTable | undefined;
  ringAttentionKeys(plan: Plan): Set<string>;
  commOfProfile(table: ProfileTable, ringKeys: Set<string>): { ms: number; collectiveMs: number; ringMs: number; rows: ProfileTable["rows"] };
  costVerdict(measured: number, predicted: number, tolerance?: number): { ratio: number | undefined; off: boolean | undefined };
  launcherFailure(stderr: string): { message: string | undefined; rank: number | undefined; logsDir: string | undefined };
}

// A plain .mjs script without type declarations: imported through a computed specifier, typed by the interface above.
const modulePath = new URL("../../scripts/gpu/multi-common.mjs", import.meta.url).href;
const lib = (await import(modulePath)) as MultiCommon;

/** One row as backend.cu prints it: `  %9.2f ms %5.1f%% %7lld calls  %s`. */
function row(ms: number, percent: number, calls: number, key: string): string {
  return `  ${ms.toFixed(2).padStart(9)} ms ${percent.toFixed(1).padStart(5)}% ${String(calls).padStart(7)} calls  ${key}`;
}

function planOf(layout: string): Plan {
  const text = `version: 1
name: t
model: { family: stdit, variant: stdit-tiny, checkpoint: random, dtype: bf16 }
conditioning: { embeddings: t.safetensors }
video: { frames: 8, height: 128, width: 128 }
scheduler: { kind: iddpm, steps: 2, guidance: 7 }
vae: { kind: none }
output: { dir: out, formats: [latents] }
`;
  const r = compile(text, { mode: "run", fileExists: () => true, world: lib.worldOf(layout), layout });
  expect(r.plan, JSON.stringify(r.diagnostics.map((d) => d.message))).toBeDefined();
  return r.plan!;
}

describe("maxRelativeError", () => {
  it("is max|a - b| over max|b|, 0 for equal arrays, infinite for NaN or a length mismatch", () => {
    expect(lib.maxRelativeError([1, 2, -4], [1, 2, -4])).toBe(0);
    expect(lib.maxRelativeError([1.5, 2, -4], [1, 2, -4])).toBeCloseTo(0.5 / 4, 12);
    expect(lib.maxRelativeError([Number.NaN, 2], [1, 2])).toBe(Number.POSITIVE_INFINITY);
    expect(lib.maxRelativeError([1, 2], [1, 2, 3])).toBe(Number.POSITIVE_INFINITY);
    expect(lib.maxRelativeError([1e-9], [0])).toBe(Number.POSITIVE_INFINITY);
  });
});

describe("rmsRelativeError", () => {
  it("is rms(a - b) over rms(b)", () => {
    expect(lib.rmsRelativeError([3, 4], [3, 4])).toBe(0);
    expect(lib.rmsRelativeError([3, 5], [3, 4])).toBeCloseTo(1 / 5, 12);
    expect(lib.rmsRelativeError([Number.NaN], [1])).toBe(Number.POSITIVE_INFINITY);
  });
});

describe("stepTimes", () => {
  it("times step 1 from setup's end, each later step from the one before, and takes the median after the warm-up", () => {
    const progress = (phase: string, step: number, seconds: number) => ({ event: "progress", phase, step, steps: 5, seconds });
    const t = lib.stepTimes([
      { event: "ranks", ranks: [0, 1] },
      progress("load", 0, 1.0),
      progress("setup", 0, 1.5),
      progress("step", 1, 2.5),
      progress("step", 2, 2.6),
      progress("step", 3, 2.8),
      progress("step", 5, 3.2), // steps 4 and 5 arrived as one event: 0.2 s each
      progress("done", 5, 3.3),
    ]);
    expect(t.perStep.map((s) => Number(s!.toFixed(6)))).toEqual([1, 0.1, 0.2, 0.2, 0.2]);
    expect(t.warmup).toBeCloseTo(1, 9);
    expect(t.median).toBeCloseTo(0.2, 9);
  });

  it("has nothing to say without step events", () => {
    expect(lib.stepTimes([{ event: "progress", phase: "load", step: 0, steps: 3, seconds: 1 }])).toEqual({ perStep: [], warmup: undefined, median: undefined });
  });
});

describe("the CUDA profile table", () => {
  const ringPlan = planOf("ring 2");
  const ringKeys = lib.ringAttentionKeys(ringPlan);

  it("keys a plan's ring attention ops as backend.cu's profile_key does", () => {
    const ringOps = ringPlan.program.step.filter((op) => op.op === "self_attention" && op.ring !== undefined);
    expect(ringOps.length).toBeGreaterThan(0);
    expect(ringKeys.size).toBeGreaterThan(0);
    for (const key of ringKeys) expect(key).toMatch(/^self_attention( \((spatial|temporal)\))? \d+x\d+ h\d+$/);
    expect(lib.ringAttentionKeys(planOf("dsp 2")).size).toBe(0);
  });

  it("parses the last table of a rank log and sums its collective and ring attention rows", () => {
    const ringKey = [...ringKeys][0]!;
    const log = [
      "[rank 1] rank 1 of 2 (local 1) pid 4242: t",
      "[rank 1] opendit cuda profile: 1.0 ms of device time in ops", // an earlier run's table: replaced by the last
      `[rank 1] ${row(1, 100, 3, "linear 2x4->4")}`,
      "[rank 1] opendit cuda profile: 171.5 ms of device time in ops",
      `[rank 1] ${row(100.25, 58.5, 560, "linear (spatial) 1024x1152->3456")}`,
      `[rank 1] ${row(40, 23.3, 56, ringKey)}`,
      `[rank 1] ${row(20.5, 12.0, 112, "all_to_all (temporal)")}`,
      `[rank 1] ${row(6.25, 3.6, 5, "all_gather")}`,
      `[rank 1] ${row(4.5, 2.6, 56, "self_attention (temporal) 8x64 h4")}`,
      "[rank 1] done: 5 steps in 0.900 s",
    ].join("\n");
    const table = lib.parseCudaProfile(log)!;
    expect(table.totalMs).toBe(171.5);
    expect(table.rows.map((r) => r.key)).toEqual(["linear (spatial) 1024x1152->3456", ringKey, "all_to_all (temporal)", "all_gather", "self_attention (temporal) 8x64 h4"]);
    expect(table.rows[0]).toEqual({ ms: 100.25, calls: 560, key: "linear (spatial) 1024x1152->3456" });
    const comm = lib.commOfProfile(table, ringKeys);
    expect(comm.collectiveMs).toBeCloseTo(26.75, 9);
    expect(comm.ringMs).toBeCloseTo(40, 9);
    expect(comm.ms).toBeCloseTo(66.75, 9);
    expect(comm.rows.map((r) => r.key)).toEqual([ringKey, "all_to_all (temporal)", "all_gather"]);
  });

  it("reads the steady-state step count and the warm-up of a table that leaves the first step out", () => {
    const log = [
      "[rank 0] opendit cuda profile: 300.5 ms of device time in ops over 4 steps (setup and the first step, 1520.0 ms, left out as warm-up)",
      `[rank 0] ${row(200, 66.6, 112, "all_to_all (temporal)")}`,
      `[rank 0] ${row(100.5, 33.4, 448, "linear (spatial) 1024x1152->3456")}`,
    ].join("\n");
    const table = lib.parseCudaProfile(log)!;
    expect(table).toMatchObject({ totalMs: 300.5, steps: 4, warmupMs: 1520 });
    expect(table.rows).toHaveLength(2);
    const everything = lib.parseCudaProfile("opendit cuda profile: 12.0 ms of device time in ops (no step after the first: everything)\n" + row(12, 100, 3, "conv2d k3 64x64 4->512"))!;
    expect(everything.totalMs).toBe(12);
    expect(everything.steps).toBeUndefined();
    expect(everything.rows).toEqual([{ ms: 12, calls: 3, key: "conv2d k3 64x64 4->512" }]);
  });

  it("finds no table in a log without one", () => {
    expect(lib.parseCudaProfile("[rank 0] done: 5 steps in 0.1 s\n")).toBeUndefined();
  });
});

describe("costVerdict", () => {
  it("flags a measurement off the estimate by more than the tolerance either way", () => {
    const within = lib.costVerdict(0.12, 0.1);
    expect(within.ratio).toBeCloseTo(1.2, 9);
    expect(within.off).toBe(false);
    expect(lib.costVerdict(0.13, 0.1).off).toBe(true);
    expect(lib.costVerdict(0.07, 0.1).off).toBe(true);
    expect(lib.costVerdict(0.1, 0)).toEqual({ ratio: undefined, off: undefined });
  });
});

describe("launcherFailure", () => {
  it("takes the launcher's message, the rank it names and where the logs are", () => {
    const stderr = [
      '{"event":"ranks","ranks":[0,1],"pids":[10,11]}',
      "error: rank 1 exited with code 1 without reporting an error; the end of its log:",
      "  [rank 1] something broke",
      "  (the ranks' logs are in /tmp/x/opendit-run-t-abc/logs)",
      "",
    ].join("\n");
    const f = lib.launcherFailure(stderr);
    expect(f.rank).toBe(1);
    expect(f.logsDir).toBe("/tmp/x/opendit-run-t-abc/logs");
    expect(f.message).toMatch(/^rank 1 exited with code 1/);
    expect(lib.launcherFailure("nothing went wrong\n")).toEqual({ message: undefined, rank: undefined, logsDir: undefined });
  });
});
