/**
 * `opendit run` of a plan of more than one rank, with the launcher (runtime/launch/launcher.ts) starting one real
 * process per rank: the built dist/runtime/launch/rank-main.js (`npm run build`, which `npm install` runs). The
 * runs that succeed or fail on their own go through the CLI in-process (cli/program.ts runCli, as the other CLI
 * tests); the ones whose ranks are signalled run the built CLI (`node dist/cli/main.js`) as its own process, so
 * the launcher's process exit is what is timed and what must leave no rank behind. Checked:
 * - a `dsp 2` run writes latents equal to the one-rank run's, and `--check-against 1` prints the comparison;
 * - a rank killed mid-run (SIGKILL of its pid, from the `{event: "ranks", pids}` line of `--json`): the launcher
 *   ends within 5 s with exit 4 and an error naming rank 1, no rank process is left, nothing is written;
 * - Ctrl-C (SIGINT to the launcher's process): exit 4 within 5 s, "interrupted by SIGINT", no rank left, nothing
 *   written;
 * - every rank failing on a checkpoint tensor of the wrong shape: exit 4, the message names the tensor;
 * - a stuck rank (SIGSTOP) with `--collective-timeout 2`: exit 4 within 10 s with a timeout naming the ranks;
 * - two nodes on loopback (`--nnodes 2 --node-rank 0|1 --rendezvous`, one rank each): node 0 writes the one-rank
 *   latents, node 1 nothing; and two `opendit run` processes under torchrun's environment (RANK, WORLD_SIZE,
 *   MASTER_ADDR, MASTER_PORT) acting as the ranks themselves: rank 0 writes the one-rank latents;
 * - the rendezvous store (runtime/launch/store.ts) alone: a world of 2 that only rank 0 joins fails within its
 *   timeout naming rank 1, and the rank that joined is told.
 * The failing runs leave their logs in a staging directory (the error says where): removed here.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { encodeF32, STORAGE_DTYPES } from "../../checkpoint/dtype.js";
import { randomTensor } from "../../checkpoint/random.js";
import { openSafetensors } from "../../checkpoint/safetensors.js";
import { writeSafetensors } from "../../checkpoint/safetensors-write.js";
import { familyInfo } from "../../compiler/models/registry.js";
import type { CliIo } from "../../cli/io.js";
import { runCli } from "../../cli/program.js";
import { hostStore, joinRendezvous } from "../../runtime/launch/store.js";
import { fixtureDir, repoBytes, repoFile } from "./support/fixture-dir.js";

/** The built CLI (`npm run build`): the failure tests run the launcher as its own process. */
const DIST_CLI = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
const QUICKSTART = repoFile("pipelines/quickstart.yaml");
/** The quickstart pipeline (stdit-tiny, 10 steps) on two ranks, sequence-parallel over frames. */
const DSP2 = `${QUICKSTART.trimEnd()}\nparallel: { world: 2, layout: "dsp 2" }\n`;
/** Steps of the runs that are stopped after their first step: far more than they get to run. */
const LONG_STEPS = "400";

const root = fixtureDir({
  "quickstart.yaml": QUICKSTART,
  "quickstart-text.safetensors": repoBytes("pipelines/quickstart-text.safetensors"),
  "tiny-dsp2.yaml": DSP2,
  "bad-dsp2.yaml": DSP2.replace("checkpoint: random", "checkpoint: bad.safetensors"),
});

/** The environment the CLI (and through the launcher every rank) sees: one CPU thread a rank on a 2-core CI. */
const ENV: Readonly<Record<string, string | undefined>> = { PATH: process.env["PATH"], OPENDIT_CPU_THREADS: "1" };

interface Running {
  /** Settles with the exit code and what was written, once runCli returns. */
  readonly done: Promise<{ code: number; stdout: string; stderr: string }>;
  /** The launcher's process id, when it runs as its own process (spawnCli). */
  readonly pid?: number;
  /** Resolves with the first parsed JSON line of stderr that `match` accepts. */
  waitFor(match: (event: Record<string, unknown>) => boolean, what: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

/** Parses stderr as it arrives: its JSON lines (`--json`) can be waited for while the run goes on. */
function stderrEvents(): { write(chunk: string): void; text(): string; waitFor: Running["waitFor"]; ended(done: Promise<{ code: number; stderr: string }>): void } {
  let stderr = "";
  let pending = "";
  let done: Promise<{ code: number; stderr: string }> | undefined;
  const events: Record<string, unknown>[] = [];
  const waiters: { match: (e: Record<string, unknown>) => boolean; resolve: (e: Record<string, unknown>) => void }[] = [];
  return {
    write(chunk: string): void {
      stderr += chunk;
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (!line.startsWith("{")) continue;
        let event: Record<string, unknown>;
        try {
          event = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        events.push(event);
        for (const w of waiters.splice(0)) {
          if (w.match(event)) w.resolve(event);
          else waiters.push(w);
        }
      }
    },
    text: () => stderr,
    ended(d): void {
      done = d;
    },
    waitFor(match, what, timeoutMs = 30_000) {
      const seen = events.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms; stderr so far:\n${stderr}`)), timeoutMs);
        waiters.push({
          match,
          resolve: (e) => {
            clearTimeout(timer);
            resolve(e);
          },
        });
        void done?.then((r) => {
          clearTimeout(timer);
          reject(new Error(`the run ended (exit ${r.code}) before ${what}; stderr:\n${r.stderr}`));
        });
      });
    },
  };
}

/** Starts `opendit run ...` in-process (cli/program.ts runCli, as the other CLI tests do). */
function start(argv: readonly string[]): Running {
  let stdout = "";
  const stderr = stderrEvents();
  const io: CliIo = {
    stdout: { write: (chunk: string) => void (stdout += chunk) },
    stderr: { write: (chunk: string) => stderr.write(chunk) },
    isTTY: false,
    env: ENV,
    cwd: root,
  };
  const done = runCli(["run", ...argv], io).then((code) => ({ code, stdout, stderr: stderr.text() }));
  stderr.ended(done);
  return { done, waitFor: stderr.waitFor };
}

/**
 * Starts `node dist/cli/main.js run ...` as its own process: the launcher's process, whose exit (not only its
 * decision) the failure tests time, and after which no rank may be left.
 */
function spawnCli(argv: readonly string[], env: Readonly<Record<string, string>> = {}): Running {
  if (!existsSync(DIST_CLI)) throw new Error(`${DIST_CLI} is not built: run \`npm run build\` (the launcher's ranks run dist/ too)`);
  let stdout = "";
  const stderr = stderrEvents();
  const child = spawn(process.execPath, [DIST_CLI, "run", ...argv], { cwd: root, env: { ...ENV, ...env } as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "pipe"] });
  launchers.push(child);
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => void (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => stderr.write(chunk));
  const done = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr: stderr.text() }));
  });
  stderr.ended(done);
  return { done, waitFor: stderr.waitFor, ...(child.pid !== undefined ? { pid: child.pid } : {}) };
}

/** The rank processes' pids, from the `{event: "ranks", pids}` line. */
async function rankPids(running: Running): Promise<number[]> {
  const event = await running.waitFor((e) => e["event"] === "ranks", "ranks event");
  const pids = event["pids"];
  expect(Array.isArray(pids)).toBe(true);
  expect(pids).toHaveLength(2);
  for (const pid of pids as unknown[]) expect(Number.isSafeInteger(pid) && (pid as number) > 0, `pid ${String(pid)}`).toBe(true);
  signalled.push(...(pids as number[]));
  return pids as number[];
}

/** The first step's progress (every rank has finished a step). */
function firstStep(running: Running): Promise<Record<string, unknown>> {
  return running.waitFor((e) => e["event"] === "progress" && e["phase"] === "step" && typeof e["step"] === "number" && e["step"] >= 1, "first step's progress");
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    expect((error as NodeJS.ErrnoException).code, `process.kill(${pid}, 0)`).toBe("ESRCH");
    return false;
  }
}

/** Pids this file signalled: continued and killed after each test if still there (only when a test failed). */
const signalled: number[] = [];
/** The launcher processes this file started: killed after each test if still there (only when a test failed). */
const launchers: ChildProcess[] = [];
afterEach(() => {
  for (const child of launchers.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const pid of signalled.splice(0)) {
    for (const sig of ["SIGCONT", "SIGKILL"] as const) {
      try {
        process.kill(pid, sig);
      } catch {
        // gone already
      }
    }
  }
});

/** The staging directories the failed runs kept their logs in. */
const staging: string[] = [];
afterAll(() => {
  for (const dir of staging) rmSync(dir, { recursive: true, force: true });
});
/** Notes the staging directory an error names, `(the ranks' logs are in /tmp/opendit-run-.../logs)`. */
function keepStaging(stderr: string): void {
  const logs = /the ranks' logs are in (.+?)\)/.exec(stderr)?.[1];
  if (!logs) return;
  const dir = dirname(logs);
  if (dirname(dir) === tmpdir() && basename(dir).startsWith("opendit-run-")) staging.push(dir);
}

async function readLatents(dir: string): Promise<{ shape: readonly number[]; values: Float32Array }> {
  const reader = await openSafetensors(join(dir, "latents.safetensors"));
  try {
    const entry = reader.header.tensors.find((t) => t.name === "latents");
    expect(entry).toBeDefined();
    return { shape: entry!.shape, values: await reader.readF32("latents") };
  } finally {
    await reader.close();
  }
}

function maxAbsError(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let e = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    e = Number.isNaN(d) ? Infinity : Math.max(e, d);
  }
  return e;
}

function expectNothingWritten(out: string): void {
  expect(existsSync(join(out, "latents.safetensors"))).toBe(false);
  expect(existsSync(join(out, "run.json"))).toBe(false);
}

describe("opendit run on two ranks", () => {
  it("writes the one-rank run's latents, and --check-against 1 says so", async () => {
    const one = join(root, "out-one");
    const two = join(root, "out-dsp2");
    const single = await start(["quickstart.yaml", "--out", one]).done;
    expect(single.stderr).toBe("");
    expect(single.code).toBe(0);
    const r = await start(["tiny-dsp2.yaml", "--out", two]).done;
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wrote .*latents\.safetensors \[1, 4, 4, 8, 8\] and run\.json \(10 steps, /);
    expect(existsSync(join(two, "run.json"))).toBe(true);
    const [a, b] = await Promise.all([readLatents(two), readLatents(one)]);
    expect(a.shape).toEqual(b.shape);
    expect(a.values.every(Number.isFinite)).toBe(true);
    expect(maxAbsError(a.values, b.values)).toBeLessThanOrEqual(1e-5);

    const checked = await start(["tiny-dsp2.yaml", "--out", join(root, "out-check"), "--check-against", "1"]).done;
    expect(checked.stderr).toBe("");
    expect(checked.code).toBe(0);
    expect(checked.stdout).toMatch(/check against 1 rank: latents sample 0: max abs \S+, relative \S+\n/);
    expect(checked.stdout).toMatch(/check against 1 rank: ok \(largest relative error \S+, tolerance 1\.0e-4\)\n$/);
  });

  it("stops every rank within 5 s and names rank 1 when rank 1 is killed mid-run; nothing is written", async () => {
    const out = join(root, "out-killed");
    const running = spawnCli(["tiny-dsp2.yaml", "--out", out, "--steps", LONG_STEPS, "--json"]);
    const pids = await rankPids(running);
    await firstStep(running);
    const killed = Date.now();
    process.kill(pids[1]!, "SIGKILL");
    const r = await running.done;
    const seconds = (Date.now() - killed) / 1000;
    keepStaging(r.stderr);
    console.log(`rank 1 killed: the launcher exited ${r.code} after ${seconds.toFixed(2)} s`);
    expect(r.code).toBe(4);
    expect(seconds).toBeLessThan(5);
    expect(r.stderr).toMatch(/^error: rank 1 was killed by SIGKILL/m);
    expect(pids.filter(alive)).toEqual([]);
    expectNothingWritten(out);
  });

  it("stops every rank within 5 s on Ctrl-C (SIGINT to the launcher); nothing is written", async () => {
    const out = join(root, "out-interrupted");
    const running = spawnCli(["tiny-dsp2.yaml", "--out", out, "--steps", LONG_STEPS, "--json"]);
    const pids = await rankPids(running);
    await firstStep(running);
    const interrupted = Date.now();
    expect(running.pid).toBeDefined();
    process.kill(running.pid!, "SIGINT");
    const r = await running.done;
    const seconds = (Date.now() - interrupted) / 1000;
    keepStaging(r.stderr);
    expect(r.code).toBe(4);
    expect(seconds).toBeLessThan(5);
    expect(r.stderr).toMatch(/^error: interrupted by SIGINT/m);
    expect(pids.filter(alive)).toEqual([]);
    expectNothingWritten(out);
  });

  it("fails with exit 4 naming the tensor when every rank's checkpoint has a tensor of the wrong shape", async () => {
    const stdit = familyInfo("stdit")!;
    const tensors = stdit.weights(stdit.resolve(stdit.variants["stdit-tiny"]!));
    const victim = tensors.find((t) => t.shape.length === 2)!;
    const shapes = new Map(tensors.map((t) => [t.name, t.name === victim.name ? [victim.shape[0]! + 1, victim.shape[1]!] : t.shape]));
    await writeSafetensors(
      join(root, "bad.safetensors"),
      tensors.map((t) => ({ name: t.name, dtype: STORAGE_DTYPES.fp32, shape: shapes.get(t.name)! })),
      (t) => encodeF32(randomTensor(0, t.name, t.shape), "fp32"),
    );
    const out = join(root, "out-bad");
    const running = start(["bad-dsp2.yaml", "--out", out, "--json"]);
    const r = await running.done;
    keepStaging(r.stderr);
    expect(r.code).toBe(4);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^error: rank \d failed: /m);
    expect(r.stderr).toContain(victim.name);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const pids = await rankPids(running);
    expect(pids.filter(alive)).toEqual([]);
    expectNothingWritten(out);
  });

  it("fails within 10 s with a timeout naming the ranks when a rank is stuck, with --collective-timeout 2", async () => {
    const out = join(root, "out-stuck");
    const running = spawnCli(["tiny-dsp2.yaml", "--out", out, "--steps", LONG_STEPS, "--json", "--collective-timeout", "2"]);
    const pids = await rankPids(running);
    await firstStep(running);
    const stopped = Date.now();
    process.kill(pids[1]!, "SIGSTOP");
    const r = await running.done;
    const seconds = (Date.now() - stopped) / 1000;
    keepStaging(r.stderr);
    console.log(`rank 1 stopped: the launcher exited ${r.code} after ${seconds.toFixed(2)} s`);
    expect(r.code).toBe(4);
    expect(seconds).toBeLessThan(10);
    const error = r.stderr.split("\n").find((l) => l.startsWith("error: ")) ?? "";
    expect(error).toMatch(/timed out after 2 s/);
    expect(error).toMatch(/rank 0/);
    expect(error).toMatch(/rank 1/);
    expect(pids.filter(alive)).toEqual([]);
    expectNothingWritten(out);
  });
});

describe("opendit run across launchers", () => {
  /** A free TCP port on loopback for a rendezvous address. */
  async function freePort(): Promise<number> {
    const { createServer } = await import("node:net");
    return new Promise((resolve, reject) => {
      const server = createServer();
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const address = server.address();
        server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
      });
    });
  }

  it("runs one plan from two nodes (--nnodes 2, on loopback): node 0 writes the one-rank latents, node 1 nothing", async () => {
    const one = join(root, "out-nodes-one");
    expect((await start(["quickstart.yaml", "--out", one]).done).code).toBe(0);
    const port = await freePort();
    const common = ["tiny-dsp2.yaml", "--ranks-per-node", "1", "--nnodes", "2", "--rendezvous", `127.0.0.1:${port}`];
    const node0 = spawnCli([...common, "--node-rank", "0", "--out", join(root, "out-node0")]);
    const node1 = spawnCli([...common, "--node-rank", "1", "--out", join(root, "out-node1")]);
    const [r0, r1] = await Promise.all([node0.done, node1.done]);
    expect(r0.stderr).toBe("");
    expect(r0.code).toBe(0);
    expect(r1.code).toBe(0);
    expect(r1.stdout + r1.stderr).toMatch(/node 0 writes the outputs/);
    expectNothingWritten(join(root, "out-node1"));
    const [a, b] = await Promise.all([readLatents(join(root, "out-node0")), readLatents(one)]);
    expect(maxAbsError(a.values, b.values)).toBeLessThanOrEqual(1e-5);
  });

  it("acts as one rank under torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT): rank 0 writes the one-rank latents", async () => {
    const one = join(root, "out-torchrun-one");
    expect((await start(["quickstart.yaml", "--out", one]).done).code).toBe(0);
    const port = await freePort();
    const out = join(root, "out-torchrun");
    const ranks = [0, 1].map((rank) =>
      spawnCli(["tiny-dsp2.yaml", "--out", out], {
        RANK: String(rank),
        LOCAL_RANK: String(rank),
        WORLD_SIZE: "2",
        MASTER_ADDR: "127.0.0.1",
        // Our store listens on MASTER_PORT + 1 (torchrun's own store has MASTER_PORT): leave both free.
        MASTER_PORT: String(port - 1),
      }),
    );
    const [r0, r1] = await Promise.all(ranks.map((r) => r.done));
    expect(r0?.stderr).toBe("");
    expect(r0?.code).toBe(0);
    expect(r1?.code).toBe(0);
    expect(r1?.stdout ?? "").not.toMatch(/^wrote /);
    const [a, b] = await Promise.all([readLatents(out), readLatents(one)]);
    expect(maxAbsError(a.values, b.values)).toBeLessThanOrEqual(1e-5);
  });
});

describe("the rendezvous store", () => {
  it("fails within its timeout naming the rank that did not join, and tells the rank that did", async () => {
    const failures: string[] = [];
    const store = await hostStore({ host: "127.0.0.1", port: 0 }, { world: 2, timeoutMs: 500, onFailure: (f) => void failures.push(f.message) });
    try {
      const began = Date.now();
      const joined = joinRendezvous({ host: "127.0.0.1", port: store.port }, { rank: 0, host: "127.0.0.1", port: 1 }, 10_000);
      const [reports, client] = await Promise.allSettled([store.reports, joined]);
      const seconds = (Date.now() - began) / 1000;
      expect(seconds).toBeLessThan(3);
      expect(reports.status).toBe("rejected");
      expect((reports as PromiseRejectedResult).reason).toBeInstanceOf(Error);
      expect(((reports as PromiseRejectedResult).reason as Error).message).toBe("rendezvous: rank 1 of 2 did not join within 500 ms");
      expect(failures).toEqual(["rendezvous: rank 1 of 2 did not join within 500 ms"]);
      expect(client.status).toBe("rejected");
      expect(((client as PromiseRejectedResult).reason as Error).message).toContain("rank 1 of 2 did not join");
    } finally {
      await store.close();
    }
  });
});
