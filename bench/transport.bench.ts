/**
 * The CPU transport benchmark (`npm run bench:transport`, node dist/bench/transport.bench.js [--json]
 * [--iterations N] [--worlds 2,4] [--sizes 1,4,16,64]): for each world (2 and 4 ranks) it forks that many rank
 * processes (this same script with `--rank-worker`, over an IPC channel), each opening its transport endpoint with
 * the addon's `openTransport` on 127.0.0.1; the ports are exchanged here, and every rank then times all-to-alls of
 * 1, 4, 16 and 64 MiB per rank (`benchTransport`: each rank sends bytes / world to every other) after warm-up ones.
 * An all-to-all ends on every rank only when every rank's data arrived, so an iteration's time is the slowest rank's.
 * Printed per size: the median seconds of an iteration and the bandwidth each rank sees,
 * bytes · (world − 1) / world / seconds (what leaves and enters a rank), in GB/s (10^9 bytes); `--json` prints the
 * same as one JSON object. Each `benchTransport` uses its endpoint up, so every size opens fresh ones.
 */
import { fork, type ChildProcess } from "node:child_process";
import { arch, cpus, platform } from "node:os";
import { fileURLToPath } from "node:url";
import { loadNative, type NativeTransportRequest } from "../runtime/native/addon.js";

const MIB = 1 << 20;
const DEFAULT_WORLDS = [2, 4];
const DEFAULT_SIZES_MIB = [1, 4, 16, 64];
const DEFAULT_ITERATIONS = 10;
const WARMUP = 2;
/** Milliseconds a connection or an all-to-all may wait before the transport fails it. */
const TIMEOUT_MS = 60_000;

interface BenchFlags {
  readonly json: boolean;
  readonly iterations: number;
  readonly worlds: readonly number[];
  readonly sizesMiB: readonly number[];
}

function parseFlags(argv: readonly string[]): BenchFlags {
  let json = false;
  let iterations = DEFAULT_ITERATIONS;
  let worlds = DEFAULT_WORLDS;
  let sizesMiB = DEFAULT_SIZES_MIB;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const list = (min: number): number[] => {
      const values = (argv[++i] ?? "").split(",").map(Number);
      if (values.length === 0 || values.some((n) => !Number.isSafeInteger(n) || n < min)) throw new Error(`${arg} needs a comma-separated list of whole numbers of at least ${min}`);
      return values;
    };
    if (arg === "--json") json = true;
    else if (arg === "--iterations") iterations = list(1)[0]!;
    else if (arg === "--worlds") worlds = list(2);
    else if (arg === "--sizes") sizesMiB = list(1);
    else throw new Error(`unknown argument ${arg} (known: --json, --iterations N, --worlds 2,4, --sizes 1,4,16,64)`);
  }
  return { json, iterations, worlds, sizesMiB };
}

// ---- a rank process ----

type ToRank =
  | { readonly type: "open"; readonly rank: number; readonly world: number }
  | { readonly type: "bench"; readonly transport: NativeTransportRequest; readonly bytes: number; readonly iterations: number; readonly warmup: number }
  | { readonly type: "exit" };

type FromRank = { readonly type: "port"; readonly port: number } | { readonly type: "seconds"; readonly seconds: readonly number[] } | { readonly type: "error"; readonly message: string };

function rankWorker(): void {
  const native = loadNative();
  const reply = (m: FromRank): void => void process.send!(m);
  process.on("message", (m: ToRank) => {
    if (m.type === "exit") process.exit(0);
    void (async () => {
      try {
        if (m.type === "open") reply({ type: "port", port: native.openTransport({ rank: m.rank, world: m.world, host: "127.0.0.1" }).port });
        else reply({ type: "seconds", seconds: (await native.benchTransport(m)).seconds });
      } catch (error) {
        reply({ type: "error", message: error instanceof Error ? error.message : String(error) });
      }
    })();
  });
}

// ---- the parent ----

function ask(child: ChildProcess, rank: number, message: ToRank): Promise<FromRank> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: FromRank): void => {
      child.off("exit", onExit);
      if (m.type === "error") reject(new Error(`rank ${rank}: ${m.message}`));
      else resolve(m);
    };
    const onExit = (code: number | null, signal: string | null): void => {
      child.off("message", onMessage);
      reject(new Error(`rank ${rank}'s process exited (${signal ?? `code ${code}`})`));
    };
    child.once("message", onMessage);
    child.once("exit", onExit);
    child.send(message);
  });
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface SizeResult {
  readonly mib: number;
  readonly bytes: number;
  /** The median over iterations of the slowest rank's seconds. */
  readonly medianSeconds: number;
  readonly minSeconds: number;
  /** bytes · (world − 1) / world / medianSeconds, in 10^9 bytes a second. */
  readonly gbPerSecondPerRank: number;
}

async function benchWorld(world: number, flags: BenchFlags): Promise<SizeResult[]> {
  const script = fileURLToPath(import.meta.url);
  const children = Array.from({ length: world }, () => fork(script, ["--rank-worker"], { stdio: ["ignore", "inherit", "inherit", "ipc"] }));
  try {
    const results: SizeResult[] = [];
    for (const mib of flags.sizesMiB) {
      const ports = await Promise.all(children.map((c, rank) => ask(c, rank, { type: "open", rank, world })));
      const peers = ports.map((m) => ({ host: "127.0.0.1", port: (m as Extract<FromRank, { type: "port" }>).port }));
      const bytes = mib * MIB;
      const answers = await Promise.all(
        children.map((c, rank) => ask(c, rank, { type: "bench", transport: { peers, timeoutMs: TIMEOUT_MS }, bytes, iterations: flags.iterations, warmup: WARMUP })),
      );
      const perRank = answers.map((m) => (m as Extract<FromRank, { type: "seconds" }>).seconds);
      const slowest = Array.from({ length: flags.iterations }, (_, i) => Math.max(...perRank.map((s) => s[i] ?? 0)));
      const medianSeconds = median(slowest);
      results.push({
        mib,
        bytes,
        medianSeconds,
        minSeconds: Math.min(...slowest),
        gbPerSecondPerRank: (bytes * (world - 1)) / world / medianSeconds / 1e9,
      });
    }
    return results;
  } finally {
    for (const c of children) if (c.connected) c.send({ type: "exit" });
    await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once("exit", r)))));
  }
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const cpu = cpus();
  const machine = { cpu: cpu[0]?.model.trim() ?? "unknown CPU", cores: cpu.length, platform: `${platform()} ${arch()}`, node: process.version };
  const worlds: { world: number; sizes: SizeResult[] }[] = [];
  for (const world of flags.worlds) worlds.push({ world, sizes: await benchWorld(world, flags) });
  const result = { benchmark: "transport", collective: "all_to_all", host: "127.0.0.1", iterations: flags.iterations, warmup: WARMUP, machine, worlds };
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  const lines = [
    `transport benchmark: CPU transport all-to-all over 127.0.0.1, one process per rank`,
    `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.platform}, Node ${machine.node}`,
    `iterations: ${flags.iterations} timed after ${WARMUP} warm-up; seconds of the slowest rank, median (min); GB/s per rank = bytes · (world − 1) / world / median`,
  ];
  for (const { world, sizes } of worlds) {
    lines.push("", `world ${world}`);
    for (const s of sizes) {
      lines.push(`  ${`${s.mib} MiB`.padStart(7)}   ${s.medianSeconds.toFixed(6)} s (${s.minSeconds.toFixed(6)})   ${s.gbPerSecondPerRank.toFixed(3)} GB/s per rank`);
    }
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

if (process.argv.includes("--rank-worker")) {
  rankWorker();
} else {
  main().catch((error: unknown) => {
    process.stderr.write(`transport benchmark failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
