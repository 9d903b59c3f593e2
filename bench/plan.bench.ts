/**
 * The plan benchmark (`node dist/bench/plan.bench.js`): how long making a plan takes as the world grows, on
 * Open-Sora 1.0 16x512x512 (pipelines/opensora-dsp.yaml) laid out as `dsp 8` (8 ranks), `dp 8 x dsp 8` (64)
 * and `dp 128 x dsp 8` (1,024), with one prompt per dp rank and 8 GPUs per node. Two figures per world:
 * compile() from the text (parse, schema, rules, lowering, cost), and lowerPlan() alone on the checked Spec.
 * Each is run after warm-up runs, several times; the minimum and median are printed with the machine. Not a
 * test: it checks only that every case lowers to a plan of the intended world.
 */
import { readFile } from "node:fs/promises";
import { cpus } from "node:os";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { compile } from "../compiler/compile.js";
import { lowerPlan } from "../compiler/lower/lower-plan.js";
import { canonicalJson } from "../compiler/plan/serialize.js";
import type { Spec } from "../compiler/spec/schema.js";
import { createSourceFile } from "../grammar/source.js";
import { printYaml } from "../grammar/yaml/print-yaml.js";

const WARMUP_RUNS = 2;
const TIMED_RUNS = 9;
const RANKS_PER_NODE = 8;
const CASES = [
  { layout: "dsp 8", world: 8, prompts: 1 },
  { layout: "dp 8 x dsp 8", world: 64, prompts: 8 },
  { layout: "dp 128 x dsp 8", world: 1024, prompts: 128 },
] as const;

/** pipelines/opensora-dsp.yaml, from dist/bench/ (compiled) or bench/ (sources). */
async function baseText(): Promise<string> {
  const here = fileURLToPath(new URL(".", import.meta.url));
  for (const up of ["../../pipelines", "../pipelines"]) {
    const text = await readFile(join(here, up, "opensora-dsp.yaml"), "utf8").catch(() => undefined);
    if (text !== undefined) return text;
  }
  throw new Error("pipelines/opensora-dsp.yaml not found next to the benchmark");
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Milliseconds of each timed run of `work`, after the warm-up runs. */
function time(work: () => void): number[] {
  const times: number[] = [];
  for (let run = 0; run < WARMUP_RUNS + TIMED_RUNS; run++) {
    const start = performance.now();
    work();
    if (run >= WARMUP_RUNS) times.push(performance.now() - start);
  }
  return times;
}

/** The base pipeline with `prompts` prompts and the case's layout, printed as YAML (what a user would write). */
function caseText(base: Spec, c: (typeof CASES)[number]): string {
  const spec: Spec = {
    ...base,
    conditioning: { ...base.conditioning!, prompts: Array.from({ length: c.prompts }, (_, i) => `a red panda eating bamboo, take ${i + 1}`) },
    parallel: { world: c.world, layout: c.layout },
  };
  return printYaml({ file: createSourceFile("bench.yaml", ""), syntax: "yaml", value: spec, nodes: new Map() });
}

async function main(): Promise<void> {
  const base = compile({ path: "opensora-dsp.yaml", text: await baseText() }).spec;
  if (!base) throw new Error("opensora-dsp.yaml does not pass the schema");
  const cpu = cpus();
  const lines = [
    "plan benchmark: Open-Sora 1.0 STDiT-XL/2, 16x512x512, IDDPM 100 steps, 8 ranks per node",
    `machine: ${cpu[0]?.model.trim() ?? "unknown CPU"}, ${cpu.length} cores, Node ${process.version}`,
    `runs: ${TIMED_RUNS} timed after ${WARMUP_RUNS} warm-up; milliseconds, min / median`,
    "",
    `${"ranks".padStart(5)}  ${"layout".padEnd(15)}  ${"compile from text".padStart(17)}  ${"lowerPlan alone".padStart(15)}  plan JSON`,
  ];
  for (const c of CASES) {
    const text = caseText(base, c);
    const options = { ranksPerNode: RANKS_PER_NODE, fileExists: () => true };
    const checked = compile({ path: "bench.yaml", text }, options);
    if (!checked.plan || !checked.spec || !checked.facts || checked.plan.mesh.world !== c.world) {
      throw new Error(`${c.layout} did not lower: ${checked.diagnostics.map((d) => `${d.code} ${d.message}`).join("; ")}`);
    }
    const { spec, facts } = checked;
    const compileTimes = time(() => void compile({ path: "bench.yaml", text }, options));
    const lowerTimes = time(() => void lowerPlan(spec, facts, { ranksPerNode: RANKS_PER_NODE }));
    const kib = (canonicalJson(checked.plan).length / 1024).toFixed(0);
    const figures = (t: number[]) => `${Math.min(...t).toFixed(1)} / ${median(t).toFixed(1)}`;
    lines.push(`${String(c.world).padStart(5)}  ${c.layout.padEnd(15)}  ${figures(compileTimes).padStart(17)}  ${figures(lowerTimes).padStart(15)}  ${kib} KiB`);
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`plan benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
