/**
 * The launcher: `opendit run` of a plan of more than one rank. It starts one process per rank of its node
 * (rank-main.js, through execa, each with its environment from env.ts and its output in logs/rank-<r>.log with a
 * `[rank r]` prefix), hosts the rendezvous store on node 0 (store.ts), shows one progress bar (the slowest rank's
 * step), and on success assembles and writes the outputs (publish.ts).
 *
 * On the first failure (a rank exits non-zero or by a signal, reports an error, loses its store connection; the
 * rendezvous times out; the launcher gets SIGINT or SIGTERM) it stops every rank: the store tells them to abort,
 * and after a short grace each live rank gets SIGTERM, then SIGKILL 2 s later. It waits for all to exit, then
 * reports one cause: an interrupt; else the earliest crash (an exit by signal or without an error file, before the
 * launcher signalled it); else the earliest error a rank wrote (its own message); else the store's failure. Ranks
 * that stopped because they were told to are consequences and never the cause. Nothing is written into the output
 * directory; the logs stay in the staging directory, whose path the error gives.
 */
import { createWriteStream, existsSync, readFileSync, type WriteStream } from "node:fs";
import { cp, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { execa, type ResultPromise } from "execa";
import type { NativeProgress } from "../native/addon.js";
import { RunError } from "../run/errors.js";
import { rankProcessEnv, type Address, type Env } from "./env.js";
import { writeJob, type RankJob } from "./job.js";
import { publishRun, type PublishedRun } from "./publish.js";
import type { RankErrorRecord } from "./rank.js";
import { hostStore, type RankReport, type StoreFailure, type StoreHost, type WireTensor } from "./store.js";

/** Milliseconds between SIGTERM and SIGKILL. */
export const KILL_AFTER_MS = 2_000;
/** Milliseconds the launcher waits after the first failure before it signals the ranks (to see what else failed). */
const GRACE_MS = 250;
/** Lines of a rank's log quoted when it died without an error file. */
const LOG_TAIL_LINES = 12;

export interface LaunchOptions {
  readonly job: RankJob;
  /** The output directory (written by node 0 only, on success only). */
  readonly outDir: string;
  /** The opendit version recorded in run.json. */
  readonly version: string;
  /** The parent environment the ranks inherit. */
  readonly env: Env;
  readonly collectiveTimeoutMs: number;
  readonly rendezvousTimeoutMs: number;
  /** Multi-node: this node's index (default 0) of `nnodes` (default 1). */
  readonly nodeRank?: number;
  readonly nnodes?: number;
  /** Multi-node: where node 0 hosts the store (required when nnodes > 1). */
  readonly rendezvous?: Address;
  /** The slowest local rank's progress (node 0: of every rank). */
  readonly onProgress?: (progress: NativeProgress) => void;
  /** Node 0: a representative rank's latent after a step, for the previews during the run (previews.ts). */
  readonly onPreview?: (rank: number, step: number, latent: WireTensor) => void;
  /** Once every local rank process has started: their pids and ranks, in rank order. */
  readonly onRanks?: (ranks: readonly { readonly rank: number; readonly pid: number }[]) => void;
  /** Stop the ranks on SIGINT and SIGTERM to this process (the CLI; default true). */
  readonly handleSignals?: boolean;
  /** The script each rank runs (default: dist/runtime/launch/rank-main.js of this package). */
  readonly rankScript?: string;
}

export interface LaunchResult {
  /** Node 0: what was written. Other nodes: undefined. */
  readonly published?: PublishedRun;
  /** Where the logs are: `<outDir>/logs` on node 0 after success, else the staging directory's logs. */
  readonly logsDir: string;
}

/** The rank script: next to this module when it is compiled, else the package's dist/ (tests from the sources). */
export function rankScriptPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const beside = join(here, "rank-main.js");
  if (existsSync(beside)) return beside;
  for (const up of ["../..", "../../.."]) {
    const built = join(here, up, "dist", "runtime", "launch", "rank-main.js");
    if (existsSync(built)) return built;
  }
  throw new RunError(`the rank entry rank-main.js is not built (looked beside ${here} and in dist/): run \`npm run build\``);
}

interface LaunchFailure {
  readonly rank?: number;
  readonly message: string;
  readonly time: number;
  /** interrupt > crash > reported (own error file or store report) > store (timeout, lost connection). */
  readonly kind: "interrupt" | "crash" | "reported" | "store";
  /** A consequence of another failure (told to abort, or stopped by the launcher): never the cause. */
  readonly consequence?: boolean;
}

interface RankProcess {
  readonly rank: number;
  readonly subprocess: ResultPromise;
  readonly log: WriteStream;
  readonly logPath: string;
  readonly errorFile: string;
  exit?: { code: number | undefined; signal: string | undefined; time: number };
  /** When the launcher signalled it (it was alive then). */
  signalledAt?: number;
  readonly exited: Promise<void>;
}

function readErrorFile(path: string): RankErrorRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(path, "utf8")) as RankErrorRecord;
    return typeof r.message === "string" ? r : undefined;
  } catch {
    return undefined;
  }
}

function logTail(path: string): string {
  try {
    const lines = readFileSync(path, "utf8").trimEnd().split("\n");
    return lines.slice(-LOG_TAIL_LINES).join("\n");
  } catch {
    return "";
  }
}

const PHASE_ORDER: Readonly<Record<NativeProgress["phase"], number>> = { load: 0, setup: 1, step: 2, decode: 3, done: 4 };

/** The slowest of the ranks' latest progress events: lowest phase, then lowest step. */
export function slowestProgress(latest: ReadonlyMap<number, NativeProgress>, world: number): NativeProgress | undefined {
  if (latest.size < world) {
    const any = latest.values().next().value;
    return any ? { phase: "load", step: 0, steps: any.steps, seconds: any.seconds } : undefined;
  }
  let slowest: NativeProgress | undefined;
  for (const p of latest.values()) {
    if (!slowest || PHASE_ORDER[p.phase] < PHASE_ORDER[slowest.phase] || (p.phase === slowest.phase && p.step < slowest.step)) slowest = p;
  }
  return slowest;
}

/** Picks the one failure to report: see the file's comment. */
export function causeOf(failures: readonly LaunchFailure[]): LaunchFailure | undefined {
  const order: LaunchFailure["kind"][] = ["interrupt", "crash", "reported", "store"];
  const real = failures.filter((f) => !f.consequence);
  for (const kind of order) {
    const of = real.filter((f) => f.kind === kind).sort((a, b) => a.time - b.time);
    if (of.length > 0) return of[0];
  }
  return failures.slice().sort((a, b) => a.time - b.time)[0];
}

/**
 * Runs the job's plan on the ranks of this node (all of them on one node) and, on node 0, writes the outputs.
 * Throws a RunError with the cause and where the logs are on any failure; nothing is written then.
 */
export async function launchRanks(options: LaunchOptions): Promise<LaunchResult> {
  const { job } = options;
  const plan = job.plan;
  const world = plan.mesh.world;
  const nnodes = options.nnodes ?? 1;
  const nodeRank = options.nodeRank ?? 0;
  if (!(nodeRank >= 0 && nodeRank < nnodes)) throw new RunError(`--node-rank is ${nodeRank}, but there are ${nnodes} nodes (0 to ${nnodes - 1})`);
  if (plan.mesh.nodes !== nnodes) {
    throw new RunError(`the plan places its ${world} ranks on ${plan.mesh.nodes} ${plan.mesh.nodes === 1 ? "node" : "nodes"}, but --nnodes is ${nnodes}: compile with \`--ranks-per-node ${Math.ceil(world / nnodes)}\``);
  }
  if (nnodes > 1 && !options.rendezvous) throw new RunError(`a run on ${nnodes} nodes needs \`--rendezvous host:port\`: node 0's address and a free port, the same on every node`);
  const local = plan.mesh.ranks.filter((r) => r.node === nodeRank);
  const script = options.rankScript ?? rankScriptPath();
  const started = performance.now();

  const staging = await mkdtemp(join(tmpdir(), `opendit-run-${plan.name.replace(/[^A-Za-z0-9_-]/g, "_")}-`));
  const logsDir = join(staging, "logs");
  await mkdir(logsDir);
  await mkdir(join(staging, "errors"));
  const jobPath = join(staging, "job.json");
  await writeJob(jobPath, join(staging, "plan.json"), job);

  const failures: LaunchFailure[] = [];
  const latest = new Map<number, NativeProgress>();
  let lastShown = "";
  const showProgress = (): void => {
    const slowest = slowestProgress(latest, nodeRank === 0 ? world : local.length);
    if (!slowest || !options.onProgress) return;
    const key = `${slowest.phase}/${slowest.step}`;
    if (key === lastShown) return;
    lastShown = key;
    options.onProgress({ ...slowest, seconds: (performance.now() - started) / 1000 });
  };

  let stopping = false;
  let resolveFailed!: () => void;
  const failed = new Promise<void>((r) => (resolveFailed = r));
  let store: StoreHost | undefined;
  let procs: RankProcess[] = [];
  let killTimer: NodeJS.Timeout | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  let finished = false;

  const stopAll = (): void => {
    // After the run has ended (every rank exited, the finally below ran), there is nothing left to stop: a late
    // grace timer must not start a kill timer that keeps the process alive for nothing.
    if (finished) return;
    const now = Date.now();
    for (const p of procs) {
      if (p.exit) continue;
      p.signalledAt = now;
      p.subprocess.kill("SIGTERM");
    }
    killTimer = setTimeout(() => {
      for (const p of procs) if (!p.exit) p.subprocess.kill("SIGKILL");
    }, KILL_AFTER_MS);
  };
  const fail = (failure: LaunchFailure): void => {
    failures.push(failure);
    if (stopping) return;
    stopping = true;
    store?.abort(failure.message, failure.rank);
    resolveFailed();
    graceTimer = setTimeout(stopAll, failure.kind === "interrupt" ? 0 : GRACE_MS);
  };

  const onSignal = (signal: NodeJS.Signals): void => fail({ kind: "interrupt", message: `interrupted by ${signal}: every rank was stopped`, time: Date.now() });
  const handle = options.handleSignals ?? true;
  if (handle) {
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  }

  try {
    const storeAddress: Address = options.rendezvous ?? { host: "127.0.0.1", port: 0 };
    if (nodeRank === 0) {
      try {
        store = await hostStore(nnodes > 1 ? { host: "0.0.0.0", port: storeAddress.port } : storeAddress, {
          world,
          timeoutMs: options.rendezvousTimeoutMs,
          onProgress: (rank, p) => {
            latest.set(rank, p);
            showProgress();
          },
          ...(options.onPreview ? { onPreview: options.onPreview } : {}),
          onFailure: (f: StoreFailure) =>
            fail({
              ...(f.rank !== undefined ? { rank: f.rank } : {}),
              message: f.rank !== undefined && f.kind === "reported" ? `rank ${f.rank} failed: ${f.message}` : f.message,
              time: f.time,
              kind: f.kind === "reported" ? "reported" : "store",
            }),
        });
      } catch (error) {
        throw new RunError((error as Error).message);
      }
    }
    const rendezvous: Address = nodeRank === 0 && nnodes === 1 ? { host: "127.0.0.1", port: store!.port } : storeAddress;

    procs = local.map((m) => {
      const logPath = join(logsDir, `rank-${m.rank}.log`);
      const errorFile = join(staging, "errors", `rank-${m.rank}.json`);
      const log = createWriteStream(logPath);
      const env = rankProcessEnv(options.env, {
        rank: m.rank,
        localRank: m.localRank,
        world,
        job: jobPath,
        rendezvous,
        errorFile,
        collectiveTimeoutMs: options.collectiveTimeoutMs,
        rendezvousTimeoutMs: options.rendezvousTimeoutMs,
        backend: job.backend,
        ...(job.spec.runtime?.devices ? { devices: job.spec.runtime.devices } : {}),
      });
      const subprocess = execa(process.execPath, [script], {
        env,
        extendEnv: false,
        stdin: "ignore",
        all: true,
        buffer: false,
        reject: false,
        cleanup: true,
        forceKillAfterDelay: KILL_AFTER_MS,
      });
      const proc: RankProcess = {
        rank: m.rank,
        subprocess,
        log,
        logPath,
        errorFile,
        exited: Promise.resolve(),
      };
      if (subprocess.all) {
        const lines = createInterface({ input: subprocess.all, crlfDelay: Infinity });
        lines.on("line", (line) => void log.write(`[rank ${m.rank}] ${line}\n`));
      }
      const exited = subprocess.then(
        (result) => {
          const code = typeof result.exitCode === "number" ? result.exitCode : undefined;
          const signal = result.signal ?? undefined;
          proc.exit = { code, signal, time: Date.now() };
          if (code === 0 && !signal) return;
          const own = readErrorFile(errorFile);
          const byUs = proc.signalledAt !== undefined;
          if (own) {
            fail({ rank: m.rank, message: `rank ${m.rank} failed: ${own.message}`, time: own.time, kind: "reported", ...(own.aborted || (byUs && own.time > proc.signalledAt!) ? { consequence: true } : {}) });
            return;
          }
          const how = signal ? `was killed by ${signal}` : `exited with code ${code ?? "unknown"}`;
          const tail = logTail(logPath);
          fail({
            rank: m.rank,
            message: `rank ${m.rank} ${how} without reporting an error${tail ? `; the end of its log:\n${tail}` : ""}`,
            time: proc.exit.time,
            kind: "crash",
            ...(byUs ? { consequence: true } : {}),
          });
        },
        (error: unknown) => {
          proc.exit = { code: undefined, signal: undefined, time: Date.now() };
          fail({ rank: m.rank, message: `rank ${m.rank} could not be started: ${(error as Error).message}`, time: Date.now(), kind: "crash" });
        },
      );
      return Object.assign(proc, { exited });
    });
    options.onRanks?.(procs.map((p) => ({ rank: p.rank, pid: p.subprocess.pid ?? -1 })));
    const allExited = Promise.all(procs.map((p) => p.exited));

    let reports: readonly RankReport[] | undefined;
    if (nodeRank === 0) {
      reports = await Promise.race([store!.reports.catch(() => undefined), failed.then(() => undefined)]);
    }
    await Promise.race([allExited, failed]);
    if (stopping) {
      await allExited;
      await new Promise((r) => setTimeout(r, 0));
    }
    await Promise.all(procs.map((p) => new Promise<void>((r) => p.log.end(() => r()))));

    const cause = causeOf(failures);
    if (cause || !(nodeRank !== 0 || reports)) {
      const message = cause?.message ?? "the ranks exited, but not every rank reported its result";
      throw new RunError(`${message}\n(the ranks' logs are in ${logsDir})`);
    }
    if (nodeRank !== 0) return { logsDir };

    const published = await publishRun(job, reports!, options.outDir, options.version, started);
    const finalLogs = join(options.outDir, "logs");
    await cp(logsDir, finalLogs, { recursive: true }).catch(() => undefined);
    await rm(staging, { recursive: true, force: true });
    return { published, logsDir: finalLogs };
  } catch (error) {
    // A failure before the ranks started (the store could not listen): stop what started.
    if (!stopping) {
      stopping = true;
      stopAll();
      await Promise.all(procs.map((p) => p.exited));
    }
    if (!(error instanceof RunError)) throw error;
    // Keep only the logs: the job and plan files are the launcher's.
    await rm(join(staging, "job.json"), { force: true });
    throw error;
  } finally {
    finished = true;
    if (graceTimer) clearTimeout(graceTimer);
    if (killTimer) clearTimeout(killTimer);
    if (handle) {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
    await store?.close();
  }
}
