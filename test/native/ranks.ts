/**
 * Every rank of a plan in its own process over the real CPU transport, as test/native/multirank.test.ts runs
 * them: test/native/ranks-worker.mjs forked per rank (child_process.fork, `serialization: "advanced"`, so typed
 * arrays cross as they are), each opening its endpoint with the addon's `openTransport`, this file doing the
 * rendezvous (every rank's port to every rank), then each running its rank of the request with `transport`.
 * Resolves with each rank's outputs in rank order, or rejects naming the ranks that failed; every process is gone
 * when it settles (killed after `caseTimeoutMs`).
 */
import { fork, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { addonPath, type NativeRunRequest, type NativeTensor } from "../../runtime/native/addon.js";

const WORKER = join(dirname(fileURLToPath(import.meta.url)), "ranks-worker.mjs");

type WorkerMessage =
  | { readonly type: "port"; readonly port: number }
  | { readonly type: "done"; readonly outputs: readonly NativeTensor[]; readonly steps: number }
  | { readonly type: "error"; readonly message: string };

export interface RankResult {
  readonly outputs: readonly NativeTensor[];
  readonly steps: number;
}

const live = new Set<ChildProcess>();

/** Kills whatever rank processes are still running (a file's afterAll). */
export function killRanks(): void {
  for (const child of live) child.kill("SIGKILL");
}

function nextMessage(child: ChildProcess, rank: number): Promise<WorkerMessage> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: WorkerMessage): void => {
      child.off("exit", onExit);
      resolve(m);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      child.off("message", onMessage);
      reject(new Error(`rank ${rank}'s process exited (${signal ?? `code ${code}`}) before answering`));
    };
    child.once("message", onMessage);
    child.once("exit", onExit);
  });
}

/** Runs `request` on every rank of a `world`-rank plan, each in its own process. */
export async function runRanks(
  world: number,
  request: Omit<NativeRunRequest, "rank" | "transport">,
  options: { readonly transportTimeoutMs?: number; readonly caseTimeoutMs?: number } = {},
): Promise<RankResult[]> {
  const children = Array.from({ length: world }, () => {
    const child = fork(WORKER, [], { serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"] });
    live.add(child);
    child.once("exit", () => live.delete(child));
    return child;
  });
  const timer = setTimeout(() => children.forEach((c) => c.kill("SIGKILL")), options.caseTimeoutMs ?? 50_000);
  try {
    const ports = await Promise.all(
      children.map(async (child, rank) => {
        const answer = nextMessage(child, rank);
        child.send({ type: "open", addon: addonPath(), rank, world });
        const m = await answer;
        if (m.type !== "port") throw new Error(`rank ${rank}: ${m.type === "error" ? m.message : `answered ${m.type}, not port`}`);
        return m.port;
      }),
    );
    const peers = ports.map((port) => ({ host: "127.0.0.1", port }));
    const settled = await Promise.allSettled(
      children.map(async (child, rank) => {
        const answer = nextMessage(child, rank);
        child.send({ type: "run", request, peers, timeoutMs: options.transportTimeoutMs ?? 30_000 });
        const m = await answer;
        if (m.type !== "done") throw new Error(`rank ${rank}: ${m.type === "error" ? m.message : `answered ${m.type}, not done`}`);
        return { outputs: m.outputs, steps: m.steps };
      }),
    );
    const failed = settled.flatMap((s) => (s.status === "rejected" ? [String((s.reason as Error).message)] : []));
    if (failed.length > 0) throw new Error(failed.join("\n"));
    return settled.map((s) => (s as PromiseFulfilledResult<RankResult>).value);
  } finally {
    clearTimeout(timer);
    await Promise.all(
      children.map((child) =>
        child.exitCode !== null || child.signalCode !== null
          ? undefined
          : new Promise<void>((resolve) => {
              child.once("exit", () => resolve());
              child.kill("SIGKILL");
            }),
      ),
    );
  }
}
