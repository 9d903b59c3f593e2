/**
 * What scripts/gpu/check-multi.mjs and bench-scaling.mjs share (plain Node ESM, no dist/ import at load, so that
 * test/scripts/multi-common.test.ts can import it alone):
 *
 * - `runCli`: one `opendit run` (`node dist/cli/main.js run ... --json`) as its own process group, as a user
 *   launches a multi-GPU run: its stdout/stderr, its JSON events (progress on stderr, `done` with the run record on
 *   stdout), a wall-clock limit after which the launcher gets SIGTERM (it stops its ranks) and the whole group
 *   SIGKILL 5 s later. Each call gets its own TMPDIR, so the launcher's staging directory (`opendit-run-*`, where
 *   the rank logs stay when a run fails) is found even when the error never names it (a run stopped at its limit).
 * - `launcherFailure` / `failureLogTail`: the launcher's `error:` message, the rank it names, and the end of that
 *   rank's log (`logs/rank-<r>.log`).
 * - `stepTimes`: per-step seconds from the progress events of `--json`. Under the launcher an event for step k is
 *   sent when the slowest rank has finished step k (runtime/launch/launcher.ts slowestProgress), so the differences
 *   are the slowest rank's step times; run.json keeps only each rank's mean (warm-up included).
 * - `parseCudaProfile` / `commOfProfile`: the per-op-kind table that OPENDIT_CUDA_PROFILE=1 prints to stderr
 *   (native/src/cuda/backend.cu profile_report, `[rank r] ` prefixed in a rank log), and the part of it spent in
 *   collectives: all_to_all, all_gather, send, recv rows and the self_attention rows of the plan's ring ops (whose
 *   time includes their attention math, which the profile cannot separate from the K/V passing).
 * - `maxRelativeError` (max|a − b| / max|b|, the judged figure), `rmsRelativeError` (rms(a − b) / rms(b), shown beside
 *   it), `median`, `costVerdict` (measured against the plan's estimate).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
/** The CLI entry (package.json "bin": opendit -> ./dist/cli/main.js). */
export const CLI = join(ROOT, "dist/cli/main.js");

/** Ranks of a layout such as `cfg 2 x dsp 2` (the product of its degrees); 1 for none. */
export function worldOf(layout) {
  if (!layout) return 1;
  return layout.split(" x ").reduce((w, term) => w * Number(term.trim().split(/\s+/)[1]), 1);
}

/** max|a − b| / max|b|: 0 when equal, Infinity for a length mismatch, a NaN, or a zero reference with a difference. */
export function maxRelativeError(a, b) {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) return Number.POSITIVE_INFINITY;
    if (d > diff) diff = d;
    const m = Math.abs(b[i]);
    if (m > scale) scale = m;
  }
  if (diff === 0) return 0;
  return scale === 0 ? Number.POSITIVE_INFINITY : diff / scale;
}

/** rms(a − b) / rms(b): the typical error, beside the largest (Infinity for a length mismatch or a NaN). */
export function rmsRelativeError(a, b) {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let d2 = 0;
  let b2 = 0;
  for (let i = 0; i < b.length; i++) {
    const d = a[i] - b[i];
    d2 += d * d;
    b2 += b[i] * b[i];
  }
  if (Number.isNaN(d2)) return Number.POSITIVE_INFINITY;
  if (d2 === 0) return 0;
  return b2 === 0 ? Number.POSITIVE_INFINITY : Math.sqrt(d2 / b2);
}

export function median(xs) {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Per-step seconds from `opendit run --json` progress events ({event: "progress", phase, step, seconds}): step 1
 * from the last event before it (setup's end) to its own, step k from step k − 1's event. Events that were
 * coalesced (a jump from step j to k) spread their time evenly over the steps between. Returns the seconds of
 * every step in order (undefined where unknown), the first (the warm-up: CUDA graph capture, NCCL's first use) and
 * the median of the others.
 */
export function stepTimes(events) {
  const progress = events.filter((e) => e && e.event === "progress");
  const steps = progress.filter((e) => e.phase === "step").sort((a, b) => a.step - b.step || a.seconds - b.seconds);
  if (steps.length === 0) return { perStep: [], warmup: undefined, median: undefined };
  const firstStepAt = progress.indexOf(steps[0]);
  const before = progress.slice(0, firstStepAt).filter((e) => e.phase !== "step");
  let last = before.length > 0 ? { step: 0, seconds: before[before.length - 1].seconds } : undefined;
  const total = Math.max(...steps.map((e) => e.step));
  const perStep = Array.from({ length: total }, () => undefined);
  for (const e of steps) {
    if (last && e.step > last.step) {
      const each = (e.seconds - last.seconds) / (e.step - last.step);
      for (let s = last.step; s < e.step; s++) perStep[s] = each;
    }
    if (!last || e.step > last.step) last = { step: e.step, seconds: e.seconds };
  }
  const timed = perStep.slice(1).filter((x) => x !== undefined);
  return { perStep, warmup: perStep[0], median: median(timed) };
}

/**
 * The tables OPENDIT_CUDA_PROFILE=1 prints (`opendit cuda profile: X ms of device time in ops over N steps (setup
 * and the first step, W ms, left out as warm-up)`, then one row a key: `  ms  percent%  calls calls  key`), from
 * text that may hold other lines and `[rank r] ` prefixes. Returns the last table ({ totalMs, steps, warmupMs,
 * rows: [{ ms, calls, key }] }; `steps` and `warmupMs` absent from a table that sums everything: an older build's,
 * or a run without a step after the first), or undefined when there is none.
 */
export function parseCudaProfile(text) {
  let table;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/^\[rank \d+\] /, "");
    const head = /^opendit cuda profile: ([\d.]+) ms of device time in ops(?: over (\d+) steps \(setup and the first step, ([\d.]+) ms)?/.exec(line);
    if (head) {
      table = { totalMs: Number(head[1]), rows: [] };
      if (head[2] !== undefined) Object.assign(table, { steps: Number(head[2]), warmupMs: Number(head[3]) });
      continue;
    }
    const row = /^\s+([\d.]+) ms\s+([\d.]+)%\s+(\d+) calls {2}(.+)$/.exec(line);
    if (row && table) table.rows.push({ ms: Number(row[1]), calls: Number(row[3]), key: row[4].trim() });
  }
  return table;
}

/** Op kinds whose whole time is communication (or waiting for a peer). */
export const COLLECTIVE_KINDS = ["all_to_all", "all_gather", "send", "recv"];

/** The profile keys (backend.cu profile_key) of a plan's ring attention ops: `self_attention (spatial) 2x512 h16`. */
export function ringAttentionKeys(plan) {
  const keys = new Set();
  for (const op of plan.program.step) {
    if (op.op !== "self_attention" || !op.ring) continue;
    keys.add(`self_attention${op.blockKind ? ` (${op.blockKind})` : ""} ${op.batch}x${op.seq} h${op.heads}`);
  }
  return keys;
}

/**
 * The communication part of a profile table: the collective rows and the plan's ring attention rows, in ms, and
 * which rows those were. `ringKeys` from ringAttentionKeys.
 */
export function commOfProfile(table, ringKeys) {
  const rows = table.rows.filter((r) => COLLECTIVE_KINDS.includes(r.key.split(/[\s(]/)[0]) || ringKeys.has(r.key));
  const collectiveMs = rows.filter((r) => !ringKeys.has(r.key)).reduce((s, r) => s + r.ms, 0);
  const ringMs = rows.filter((r) => ringKeys.has(r.key)).reduce((s, r) => s + r.ms, 0);
  return { ms: collectiveMs + ringMs, collectiveMs, ringMs, rows };
}

/** Measured against predicted: their ratio, and whether it is off by more than `tolerance` (0.25: 25%) either way. */
export function costVerdict(measured, predicted, tolerance = 0.25) {
  if (!(measured > 0) || !(predicted > 0)) return { ratio: undefined, off: undefined };
  const ratio = measured / predicted;
  return { ratio, off: Math.abs(ratio - 1) > tolerance };
}

/** Strips terminal colour codes (the CLI colours only on a terminal, but a message may quote coloured text). */
export function plain(text) {
  return text.replace(/\u001b\[[0-9;]*m/g, "");
}

/**
 * The launcher's failure from `opendit run`'s stderr: its `error:` message (with its continuation lines), the
 * rank it names first (`rank 1 failed: ...`, `rank 2 exited with code 1 ...`), and the logs directory it names
 * (`(the ranks' logs are in DIR)`). undefined fields where the text has none.
 */
export function launcherFailure(stderr) {
  const text = plain(stderr);
  const at = text.lastIndexOf("error: ");
  const message = at >= 0 ? text.slice(at + "error: ".length).trim() : undefined;
  const rank = message ? /\brank (\d+)\b/.exec(message) : null;
  const logs = message ? /\(the ranks' logs are in (.+?)\)\s*$/m.exec(message) : null;
  return { message, rank: rank ? Number(rank[1]) : undefined, logsDir: logs ? logs[1] : undefined };
}

/** The last `lines` lines of a file, or undefined when it cannot be read. */
export function tailOf(path, lines) {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return undefined;
  }
}

/**
 * Where a run's rank logs are: the directory the launcher's error names, else `<out>/logs` (a finished run), else
 * the staging directory under the call's TMPDIR (`opendit-run-*`/logs).
 */
export function logsDirOf(run, failure) {
  if (failure?.logsDir && existsSync(failure.logsDir)) return failure.logsDir;
  if (existsSync(join(run.outDir, "logs"))) return join(run.outDir, "logs");
  try {
    for (const d of readdirSync(run.tmpDir)) if (d.startsWith("opendit-run-") && existsSync(join(run.tmpDir, d, "logs"))) return join(run.tmpDir, d, "logs");
  } catch {
    // no staging directory
  }
  return undefined;
}

/**
 * The end of the failing rank's log (the rank the launcher names; else every rank's last few lines), for a
 * report: `rank-1.log:\n...`.
 */
export function failureLogTail(run, failure, lines = 15) {
  const dir = logsDirOf(run, failure);
  if (!dir) return undefined;
  const logs = readdirSync(dir).filter((f) => /^rank-\d+\.log$/.test(f)).sort((a, b) => Number(a.slice(5, -4)) - Number(b.slice(5, -4)));
  const named = failure?.rank !== undefined ? `rank-${failure.rank}.log` : undefined;
  const chosen = named && logs.includes(named) ? [named] : logs;
  const each = chosen.length === 1 ? lines : Math.max(4, Math.floor(lines / 2));
  return chosen.map((f) => `${f} (${dir}):\n${tailOf(join(dir, f), each) ?? "(unreadable)"}`).join("\n");
}

/** The JSON objects among a text's lines (the CLI's `--json` events); other lines are skipped. */
export function jsonLines(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // a line that only looks like JSON
    }
  }
  return out;
}

/** Launcher process groups alive now: killed when this script is stopped (a step's time limit in gpu-multi.sh). */
const liveGroups = new Set();
let stopHandlers = false;
/** On SIGTERM or SIGINT to this script, every live launcher group is killed before it exits (installed once). */
function installStopHandlers() {
  if (stopHandlers) return;
  stopHandlers = true;
  for (const [signal, code] of [["SIGTERM", 143], ["SIGINT", 130]]) {
    process.once(signal, () => {
      for (const pid of liveGroups) {
        try {
          process.kill(-pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      process.exit(code);
    });
  }
}

/**
 * Runs `node dist/cli/main.js run <file> --json --out <dir> ...args` in `dir`'s parent, as its own process group,
 * with `env` over this process's environment (NO_COLOR set) and TMPDIR = `<dir>.tmp`. Resolves (never rejects)
 * with { code, signal, timedOut, seconds, stdout, stderr, events (stderr's JSON lines), done (the `done` event:
 * { outDir, record }), outDir, tmpDir }.
 */
export function runCli(file, outDir, args, { env = {}, timeoutMs = 600_000 } = {}) {
  installStopHandlers();
  const tmpDir = `${outDir}.tmp`;
  mkdirSync(tmpDir, { recursive: true });
  const argv = [CLI, "run", file, "--json", "--out", outDir, ...args];
  return new Promise((resolve) => {
    const started = performance.now();
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    let killTimer;
    const child = spawn(process.execPath, argv, {
      cwd: dirname(outDir),
      env: { ...process.env, NO_COLOR: "1", TMPDIR: tmpDir, ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    liveGroups.add(child.pid);
    child.stdout.setEncoding("utf8").on("data", (c) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c) => (stderr += c));
    const limit = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(child.pid, "SIGTERM"); // the launcher stops its ranks itself
      } catch {
        // already gone
      }
      killTimer = setTimeout(() => {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }, 5_000);
    }, timeoutMs);
    const finish = (code, signal, spawnError) => {
      clearTimeout(limit);
      if (killTimer) clearTimeout(killTimer);
      if (timedOut || signal) {
        // Whatever of the group is left (ranks of a launcher that was killed) goes too.
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // nothing left
        }
      }
      liveGroups.delete(child.pid);
      const events = jsonLines(stderr);
      const done = jsonLines(stdout).find((e) => e.event === "done");
      resolve({
        code: spawnError ? -1 : code,
        signal,
        timedOut,
        seconds: (performance.now() - started) / 1000,
        stdout,
        stderr: spawnError ? `error: could not start the CLI: ${spawnError.message}` : stderr,
        events,
        done,
        outDir,
        tmpDir,
        argv: argv.slice(1),
      });
    };
    child.once("error", (e) => finish(-1, null, e));
    child.once("close", (code, signal) => finish(code, signal));
  });
}

/** Why a run failed, in a line or a few, with the failing rank's log tail: { message, rank, logTail }. */
export function describeFailure(run, limitSeconds) {
  const failure = launcherFailure(run.stderr);
  let message = failure.message;
  if (run.timedOut) message = `stopped at its time limit of ${limitSeconds} s${message ? `: ${message}` : ""}`;
  if (!message) {
    const tail = plain(run.stderr).trim().split("\n").slice(-5).join("\n");
    message = `exit ${run.code ?? run.signal}${tail ? `: ${tail}` : " (nothing on stderr)"}`;
  }
  return { message, rank: failure.rank, logTail: failureLogTail(run, failure) };
}

/** The latents (every tensor) of a finished run's latents.safetensors, as fp32, by name. */
export async function readLatents(outDir) {
  const { openSafetensors } = await import(new URL("../../dist/checkpoint/safetensors.js", import.meta.url).href);
  const reader = await openSafetensors(join(outDir, "latents.safetensors"));
  try {
    const out = new Map();
    for (const t of reader.header.tensors) out.set(t.name, await reader.readF32(t.name));
    return out;
  } finally {
    await reader.close();
  }
}

/** GPUs on this machine (`nvidia-smi -L` lines), or undefined where nvidia-smi does not answer. */
export async function countGpus() {
  const { execFileSync } = await import("node:child_process");
  try {
    const out = execFileSync("nvidia-smi", ["-L"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 20_000 });
    const n = out.split("\n").filter((l) => l.startsWith("GPU ")).length;
    return n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

export const fmtErr = (e) => (e === undefined ? "-" : Number.isFinite(e) ? e.toExponential(2) : String(e));
export const fmtMs = (s, digits = 1) => (s === undefined || !Number.isFinite(s) ? "-" : (s * 1000).toFixed(digits));
export const messageOf = (e) => (e instanceof Error ? e.message : String(e));
/** A JSON-safe number: Infinity and NaN as strings. */
export const finite = (x) => (x === undefined || Number.isFinite(x) ? x : String(x));
