/**
 * The addon's interface (runtime/native/addon.ts): `info()` says the CPU backend is built and whether CUDA is (and
 * why not); `run()` takes `backend` ("cpu" default, "cuda" where built, else refused with the build's reason);
 * `run()` reports progress in order (load, setup, each step 1..N, done), runs on a native thread while the main
 * thread goes on (timers tick during the run), returns the plan's outputs with their shapes and the run's
 * timings, and refuses a malformed request by rejecting its promise with a message naming the field, never by
 * throwing synchronously.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { NativeProgress, NativeRunRequest } from "../../runtime/native/addon.js";
import { readTensors } from "../helpers/goldens.js";
import { bufferSize, compilePlan, fixedValues, native, noiseSeedOf, planJson, ROOT } from "./support.js";

const quickstart = compilePlan(readFileSync(join(ROOT, "pipelines/quickstart.yaml"), "utf8"));

/** A request that runs quickstart.yaml's plan (random weights, its text file, seeded noise). */
async function quickstartRequest(extra: Partial<NativeRunRequest> = {}): Promise<NativeRunRequest> {
  const text = await readTensors(join(ROOT, "pipelines/quickstart-text.safetensors"));
  return {
    plan: planJson(quickstart),
    weights: { kind: "random", seed: quickstart.model.weightsSeed },
    inputs: { text: text.get("y")!, textMask: text.get("mask")!, noiseSeed: noiseSeedOf(quickstart) },
    ...extra,
  };
}

/**
 * A heavier plan for the threading check: `stdit-tiny` on an 8 x 16 x 16 latent (512 tokens), so each step
 * takes long enough on the CPU (~0.1 s) for timers to fire many times in between.
 */
const heavy = compilePlan(`version: 1
name: addon-heavy
model: { family: stdit, variant: stdit-tiny, checkpoint: random, dtype: fp32 }
conditioning: { embeddings: t.safetensors }
video: { frames: 8, height: 128, width: 128 }
seed: 1
scheduler: { kind: ddim, steps: 3, guidance: 7 }
vae: { kind: none }
output: { dir: out, formats: [latents] }
runtime: { backend: cpu }
`);

describe("info()", () => {
  it("says the CPU backend is built, and whether CUDA is, with the reason", () => {
    const info = native().info();
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    expect(info.version).toBe(pkg.version);
    expect(info.backends.cpu.built).toBe(true);
    expect(info.backends.cpu.threads).toBeGreaterThanOrEqual(1);
    expect(info.backends.cpu.compiler.length).toBeGreaterThan(0);
    expect(typeof info.backends.cuda.built).toBe("boolean");
    expect(typeof info.backends.cuda.reason).toBe("string");
    expect(info.backends.cuda.reason.trim().length).toBeGreaterThan(0);
  });

  it("says whether NCCL is built, with the reason: never without the CUDA backend", () => {
    const { cuda } = native().info().backends;
    expect(cuda.nccl, "info().backends.cuda.nccl").toBeDefined();
    const nccl = cuda.nccl!;
    expect(typeof nccl.built).toBe("boolean");
    expect(nccl.reason.trim().length).toBeGreaterThan(0);
    if (!cuda.built) expect(nccl).toEqual({ built: false, reason: "the CUDA backend is not built" });
    if (nccl.built) expect(nccl.reason).toMatch(/^NCCL \d+\.\d+\.\d+, /);
  });
});

describe("run()", () => {
  it("reports load, setup, each step 1..N and done, in order, and returns the plan's outputs with their shapes", async () => {
    const steps = 3;
    const events: NativeProgress[] = [];
    const result = await native().run(await quickstartRequest({ steps, threads: 1 }), (p) => events.push(p));
    // Progress goes through a thread-safe function; let anything still queued arrive.
    for (let i = 0; i < 50 && events[events.length - 1]?.phase !== "done"; i++) await new Promise((r) => setTimeout(r, 10));

    const phases = events.map((e) => e.phase).filter((p, i, all) => i === 0 || p !== all[i - 1]);
    expect(phases).toEqual(["load", "setup", "step", "done"]);
    expect(events.filter((e) => e.phase === "step").map((e) => e.step)).toEqual([1, 2, 3]);
    for (const e of events) expect(e.steps).toBe(steps);
    expect(events[events.length - 1]!.step).toBe(steps);
    for (let i = 1; i < events.length; i++) expect(events[i]!.seconds).toBeGreaterThanOrEqual(events[i - 1]!.seconds);

    expect(result.outputs.map((o) => o.name)).toEqual(quickstart.outputs.map((o) => o.name));
    for (const out of quickstart.outputs) {
      const got = result.outputs.find((o) => o.name === out.name)!;
      const buffer = quickstart.buffers.find((b) => b.name === out.buffer)!;
      expect(got.shape).toEqual(buffer.shape);
      expect(got.data).toBeInstanceOf(Float32Array);
      expect(got.data.length).toBe(bufferSize(quickstart, out.buffer));
      expect(got.data.every(Number.isFinite)).toBe(true);
    }
    expect(result.timings.perStep).toHaveLength(steps);
    expect(result.threads).toBe(1);
    expect(result.captures).toEqual([]);
    expect(result.arenaBytes).toBeGreaterThan(0);
    expect(result.backend).toBe("cpu");
    expect(result.deviceBytes).toBe(0);
    expect(result.weightBytes).toBe(4 * quickstart.weights.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0));
  });

  it("runs off the main thread: timers tick while the steps run", async () => {
    const { samples } = heavy.geometry;
    const { textTokens: L, captionChannels: C } = heavy.model.hyper;
    const log: string[] = [];
    const timer = setInterval(() => log.push("tick"), 2);
    let returned = false;
    let early = 0;
    const started = performance.now();
    try {
      const running = native().run(
        {
          plan: planJson(heavy),
          weights: { kind: "random", seed: 0 },
          inputs: { noiseSeed: 1, text: fixedValues(samples * L * C, 2), textMask: new Float32Array(samples * L).fill(1) },
          threads: 1,
        },
        (p) => {
          if (!returned) early++;
          log.push(p.phase === "step" ? `step ${p.step}` : p.phase);
        },
      );
      returned = true;
      const callReturnedAfter = performance.now() - started;
      await running;
      const elapsed = performance.now() - started;
      // The call returns at once; the work happens after it, on another thread.
      expect(callReturnedAfter, `run() took ${callReturnedAfter} ms to return a promise (the run took ${elapsed} ms)`).toBeLessThan(elapsed / 2);
    } finally {
      clearInterval(timer);
    }
    expect(early, "progress delivered before run() returned").toBe(0);
    const first = log.indexOf("step 1");
    const last = log.indexOf(`step ${heavy.steps.length}`);
    expect(first).toBeGreaterThanOrEqual(0);
    expect(last).toBeGreaterThan(first);
    // The main thread ran timers between the steps.
    const ticksBetween = log.slice(first, last).filter((e) => e === "tick").length;
    expect(ticksBetween, log.join(" ")).toBeGreaterThanOrEqual(3);
  });

  /** Requests that are wrong in one field each, and what the message must name. */
  const BAD: readonly { name: string; request: () => Promise<unknown>; names: RegExp }[] = [
    { name: "no request", request: async () => undefined, names: /request must be an object/ },
    { name: "a plan that is not a string", request: async () => ({ ...(await quickstartRequest()), plan: 42 }), names: /request\.plan\b/ },
    { name: "a plan that is not JSON", request: async () => ({ ...(await quickstartRequest()), plan: "{ not json" }), names: /JSON/ },
    { name: "weights of an unknown kind", request: async () => ({ ...(await quickstartRequest()), weights: { kind: "cloud" } }), names: /weights\.kind/ },
    { name: "a file without a path", request: async () => ({ ...(await quickstartRequest()), weights: { kind: "file", ignore: [] } }), names: /weights\.path/ },
    {
      name: "noise that is not a Float32Array",
      request: async () => {
        const r = await quickstartRequest();
        return { ...r, inputs: { ...r.inputs, noise: [1, 2, 3] } };
      },
      names: /inputs\.noise/,
    },
    {
      name: "noise of the wrong size",
      request: async () => {
        const r = await quickstartRequest();
        return { ...r, inputs: { ...r.inputs, noise: new Float32Array(7) } };
      },
      names: /noise holds 7 values/,
    },
    { name: "no text for a text plan", request: async () => ({ ...(await quickstartRequest()), inputs: { noiseSeed: 1 } }), names: /inputs have no text/ },
    { name: "negative steps", request: async () => ({ ...(await quickstartRequest()), steps: -1 }), names: /request\.steps/ },
    { name: "more steps than the plan has", request: async () => ({ ...(await quickstartRequest()), steps: 99 }), names: /99 steps/ },
    { name: "a rank outside the mesh", request: async () => ({ ...(await quickstartRequest()), rank: 3 }), names: /rank 3/ },
    { name: "threads that are not a number", request: async () => ({ ...(await quickstartRequest()), threads: "two" }), names: /request\.threads/ },
    { name: "a backend that does not exist", request: async () => ({ ...(await quickstartRequest()), backend: "tpu" }), names: /request\.backend must be "cpu" or "cuda", not "tpu"/ },
    { name: "a backend that is not a string", request: async () => ({ ...(await quickstartRequest()), backend: 1 }), names: /request\.backend must be a string/ },
    { name: "a negative device", request: async () => ({ ...(await quickstartRequest()), device: -1 }), names: /request\.device/ },
    { name: "a device that is not whole", request: async () => ({ ...(await quickstartRequest()), device: 0.5 }), names: /request\.device/ },
    {
      name: "a capture of an op that does not exist",
      request: async () => ({ ...(await quickstartRequest()), captures: [{ op: 100000, buffer: "latent" }] }),
      names: /capture 0\b.*\bop 100000/,
    },
    {
      name: "a capture of a buffer that does not exist",
      request: async () => ({ ...(await quickstartRequest()), captures: [{ op: 3, buffer: "no_such_buffer" }] }),
      names: /capture 0\b.*no_such_buffer/,
    },
  ];

  it.each(BAD)("rejects $name (without throwing synchronously), naming the field", async ({ request, names }) => {
    const body = (await request()) as NativeRunRequest;
    let promise: Promise<unknown> | undefined;
    expect(() => {
      promise = native().run(body);
    }).not.toThrow();
    expect(promise).toBeInstanceOf(Promise);
    const outcome = await promise!.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(outcome, "the run resolved").toBeInstanceOf(Error);
    expect((outcome as Error).message).toMatch(names);
  });
});

describe("run() on the CUDA backend", () => {
  it("runs the quickstart plan where the build has CUDA, and elsewhere rejects with the build's reason", async () => {
    const { cuda } = native().info().backends;
    const steps = 2;
    const request = await quickstartRequest({ steps, backend: "cuda", device: 0 });
    if (!cuda.built) {
      const error = await native().run(request).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, "a build without CUDA ran backend: cuda").toBeInstanceOf(Error);
      const message = (error as Error).message;
      expect(message).toContain(`this build of opendit has no CUDA backend: ${cuda.reason}`);
      expect(message).toContain("--backend cpu");
      return;
    }
    const events: NativeProgress[] = [];
    const result = await native().run(request, (p) => events.push(p));
    expect(result.backend).toBe("cuda");
    expect(result.deviceBytes).toBeGreaterThan(0);
    expect(result.timings.perStep).toHaveLength(steps);
    expect(result.outputs.map((o) => o.name)).toEqual(quickstart.outputs.map((o) => o.name));
    for (const out of quickstart.outputs) {
      const got = result.outputs.find((o) => o.name === out.name)!;
      expect(got.data.length).toBe(bufferSize(quickstart, out.buffer));
      expect(got.data.every(Number.isFinite)).toBe(true);
    }
  });

  it("refuses a plan with collectives on CUDA without NCCL, or without a transport, naming the op", async () => {
    const plan = compilePlan(`version: 1
name: addon-cuda-collectives
model: { family: dit, variant: dit-tiny, checkpoint: random, dtype: fp32 }
conditioning: { labels: [3, 7] }
image: { height: 64, width: 48 }
seed: 0
scheduler: { kind: ddim, steps: 2, guidance: 4 }
vae: { kind: none }
output: { dir: out, formats: [latents] }
parallel: { world: 2, layout: "cfg 2" }
`);
    const collectives = ["all_to_all", "all_gather", "send", "recv"];
    const first = [...plan.program.setup, ...plan.program.step].find((op) => collectives.includes(op.op));
    expect(first, "the cfg 2 plan has a collective").toBeDefined();
    const { cuda } = native().info().backends;
    const error = await native()
      .run({ plan: planJson(plan), weights: { kind: "random", seed: 0 }, inputs: { labels: new Int32Array([3, 7]), noiseSeed: 1 }, backend: "cuda" })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error, "backend: cuda ran a plan with collectives").toBeInstanceOf(Error);
    const message = (error as Error).message;
    // Without CUDA the build's reason comes first; with it, the first collective is named, with NCCL's reason where
    // the build has no NCCL, else saying this run has no transport to set NCCL up over.
    if (!cuda.built) expect(message).toContain(cuda.reason);
    else if (!cuda.nccl?.built) expect(message).toMatch(new RegExp(`op ${first!.id} \\(${first!.op}.*exchanging data between GPU ranks needs NCCL, which this build does not have: `));
    else expect(message).toMatch(new RegExp(`op ${first!.id} \\(${first!.op}.*but this run has no communicator`));
  });
});
