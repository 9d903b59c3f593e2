/**
 * The CPU step benchmark (`npm run bench:cpu`, node dist/bench/cpu-step.bench.js [--json] [--threads N]
 * [--runs N]): the quickstart pipeline (pipelines/quickstart.yaml: a tiny random-weight STDiT, 4x64x64, 10 IDDPM
 * steps with guidance) run whole on the native CPU backend, after warm-up runs, several times. It prints the
 * milliseconds per step (min / median over every timed step), the setup before the first step (weights, arena,
 * inputs and the setup program), the whole native run, the threads and the machine; `--json` prints the same as
 * one JSON object. Nothing is written to disk: the native runs are called directly, as `opendit run` calls them.
 */
import { readFile } from "node:fs/promises";
import { arch, cpus, platform } from "node:os";
import { performance } from "node:perf_hooks";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { compile } from "../compiler/compile.js";
import { canonicalJson } from "../compiler/plan/serialize.js";
import { loadNative, type NativeRunResult } from "../runtime/native/addon.js";
import { runInputs } from "../runtime/run/inputs.js";
import { runWeights } from "../runtime/run/weights.js";

const WARMUP_RUNS = 2;
const DEFAULT_RUNS = 9;

interface BenchFlags {
  readonly json: boolean;
  readonly threads?: number;
  readonly runs: number;
}

function parseFlags(argv: readonly string[]): BenchFlags {
  let json = false;
  let threads: number | undefined;
  let runs = DEFAULT_RUNS;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const count = (): number => {
      const n = Number(argv[++i]);
      if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${arg} needs a whole number of at least 1`);
      return n;
    };
    if (arg === "--json") json = true;
    else if (arg === "--threads") threads = count();
    else if (arg === "--runs") runs = count();
    else throw new Error(`unknown argument ${arg} (known: --json, --threads N, --runs N)`);
  }
  return { json, runs, ...(threads !== undefined ? { threads } : {}) };
}

/** pipelines/quickstart.yaml, from dist/bench/ (compiled) or bench/ (sources). */
async function quickstart(): Promise<{ path: string; text: string }> {
  const here = fileURLToPath(new URL(".", import.meta.url));
  for (const up of ["../../pipelines", "../pipelines"]) {
    const path = join(here, up, "quickstart.yaml");
    const text = await readFile(path, "utf8").catch(() => undefined);
    if (text !== undefined) return { path, text };
  }
  throw new Error("pipelines/quickstart.yaml not found next to the benchmark");
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function figures(values: readonly number[]): { min: number; median: number } {
  return { min: Math.min(...values), median: median(values) };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const source = await quickstart();
  const compiled = compile(source, { mode: "run" });
  if (!compiled.plan || !compiled.spec) throw new Error(`quickstart.yaml did not compile: ${compiled.diagnostics.map((d) => `${d.code} ${d.message}`).join("; ")}`);
  const { plan, spec } = compiled;
  const baseDir = dirname(source.path);
  const request = {
    plan: canonicalJson(plan),
    weights: runWeights(plan, baseDir),
    inputs: await runInputs(spec, plan, baseDir),
    ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
  };
  const native = loadNative();

  const stepMs: number[] = [];
  const setupMs: number[] = [];
  const runMs: number[] = [];
  let last: NativeRunResult | undefined;
  for (let run = 0; run < WARMUP_RUNS + flags.runs; run++) {
    const start = performance.now();
    last = await native.run(request);
    const wall = performance.now() - start;
    if (run < WARMUP_RUNS) continue;
    const t = last.timings;
    stepMs.push(...t.perStep.map((s) => s * 1000));
    setupMs.push((t.load + t.bind + t.inputs + t.setup) * 1000);
    runMs.push(wall);
  }

  const cpu = cpus();
  const machine = { cpu: cpu[0]?.model.trim() ?? "unknown CPU", cores: cpu.length, platform: `${platform()} ${arch()}`, node: process.version };
  const info = native.info();
  const result = {
    benchmark: "cpu-step",
    pipeline: plan.name,
    planHash: plan.hash,
    steps: plan.steps.length,
    runs: flags.runs,
    warmupRuns: WARMUP_RUNS,
    threads: last!.threads,
    compiler: info.backends.cpu.compiler,
    machine,
    msPerStep: figures(stepMs),
    setupMs: figures(setupMs),
    runMs: figures(runMs),
    arenaBytes: last!.arenaBytes,
    weightBytes: last!.weightBytes,
  };
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  const f = (x: { min: number; median: number }, digits: number): string => `${x.min.toFixed(digits)} / ${x.median.toFixed(digits)}`;
  const lines = [
    `cpu step benchmark: ${plan.name} (${plan.model.title}, ${plan.geometry.frames}x${plan.geometry.height}x${plan.geometry.width}, ${plan.steps.length} steps, batch ${plan.geometry.batch}), plan ${plan.hash.slice(0, 12)}`,
    `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.platform}, Node ${machine.node}; addon built with ${info.backends.cpu.compiler}`,
    `runs: ${flags.runs} timed after ${WARMUP_RUNS} warm-up, ${result.threads} ${result.threads === 1 ? "thread" : "threads"}; milliseconds, min / median`,
    "",
    `ms per step   ${f(result.msPerStep, 3)}   (${stepMs.length} steps)`,
    `setup         ${f(result.setupMs, 3)}   (weights, arena, inputs, setup program)`,
    `whole run     ${f(result.runMs, 3)}   (native run() as awaited)`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`cpu step benchmark failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
