/**
 * The validate benchmark (`npm run bench`): 1,000 generated pipeline files in a temporary directory, checked
 * along the same path as `opendit validate DIR --format json` (expand the directory, read, validate, render),
 * several times; prints the minimum and median wall time, files per second and milliseconds per file, and the
 * machine it ran on. Not a test: it checks only that the corpus is what it claims (half the files in error).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { renderJson } from "../cli/render/json.js";
import { summarize } from "../cli/render/report.js";
import { selectFiles } from "../cli/select-files.js";
import { validateFiles } from "../cli/validate-files.js";
import { loadBaseSpecs, writeCorpus } from "./generate-specs.js";

const FILES = 1000;
const WARMUP_RUNS = 1;
const TIMED_RUNS = 7;

/** pipelines/ of the repository, from dist/bench/ (compiled) or bench/ (sources). */
async function pipelinesDir(): Promise<string> {
  const here = fileURLToPath(new URL(".", import.meta.url));
  for (const up of ["../../pipelines", "../pipelines"]) {
    const dir = join(here, up);
    const bases = await loadBaseSpecs(dir).catch(() => []);
    if (bases.length > 0) return dir;
  }
  throw new Error("pipelines/ not found next to the benchmark");
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** One run of the CLI's path; returns its wall time in ms and what it found. */
async function validateDirectory(dir: string): Promise<{ ms: number; files: number; withErrors: number; bytes: number }> {
  const start = performance.now();
  const selection = await selectFiles([dir], { cwd: dir });
  const validated = await validateFiles(selection, { cwd: dir });
  const report = renderJson(validated.files);
  const ms = performance.now() - start;
  const withErrors = validated.files.filter((f) => f.diagnostics.some((d) => d.severity === "error")).length;
  return { ms, files: summarize(validated.files).files, withErrors, bytes: report.length };
}

async function main(): Promise<void> {
  const bases = await loadBaseSpecs(await pipelinesDir());
  const dir = await mkdtemp(join(tmpdir(), "opendit-bench-"));
  try {
    await writeCorpus(dir, bases, FILES);
    const times: number[] = [];
    let last: Awaited<ReturnType<typeof validateDirectory>> | undefined;
    for (let run = 0; run < WARMUP_RUNS + TIMED_RUNS; run++) {
      last = await validateDirectory(dir);
      if (run >= WARMUP_RUNS) times.push(last.ms);
    }
    if (!last || last.files !== FILES) throw new Error(`expected ${FILES} files, validated ${last?.files}`);
    if (last.withErrors !== FILES / 2) throw new Error(`expected half of the files to have errors, found ${last.withErrors}`);
    const cpu = cpus();
    const best = Math.min(...times);
    const mid = median(times);
    const lines = [
      `validate benchmark: ${FILES} files from ${bases.length} example pipelines (${last.withErrors} with errors), json report of ${(last.bytes / 1024).toFixed(0)} KiB`,
      `machine: ${cpu[0]?.model.trim() ?? "unknown CPU"}, ${cpu.length} cores, Node ${process.version}`,
      `runs: ${TIMED_RUNS} timed after ${WARMUP_RUNS} warm-up`,
      `min    ${best.toFixed(0)} ms  ${((FILES / best) * 1000).toFixed(0)} files/s  ${(best / FILES).toFixed(3)} ms/file`,
      `median ${mid.toFixed(0)} ms  ${((FILES / mid) * 1000).toFixed(0)} files/s  ${(mid / FILES).toFixed(3)} ms/file`,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`validate benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
