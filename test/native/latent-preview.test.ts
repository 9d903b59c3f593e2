/**
 * The running latent in the progress events (request.previewEvery, native/src/runtime/latent_preview.h): on the
 * quickstart plan, every N-th step event carries the output `latents` as it is after that step (the plan buffer's
 * shape), bit for bit what a capture after the solver copies on that step, and after the last step what the run
 * returns; other events carry none. A JS main thread too busy to take the events (a callback that blocks) makes
 * the run wait for its two host snapshots, and every event still holds its own step's latent. previewEvery 0 and
 * previewEvery without onProgress are refused, naming the field.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { NativeProgress, NativeRunRequest } from "../../runtime/native/addon.js";
import { readTensors } from "../helpers/goldens.js";
import { bitIdentical, compilePlan, native, nativeOutput, noiseSeedOf, onlyStepOp, perStep, planJson, ROOT } from "./support.js";

const quickstart = compilePlan(readFileSync(join(ROOT, "pipelines/quickstart.yaml"), "utf8"));
const solver = onlyStepOp(quickstart, "solver_update");
const output = quickstart.outputs.find((o) => o.name === "latents")!;
const outputShape = quickstart.buffers.find((b) => b.name === output.buffer)!.shape;

async function request(extra: Partial<NativeRunRequest>): Promise<NativeRunRequest> {
  const text = await readTensors(join(ROOT, "pipelines/quickstart-text.safetensors"));
  return {
    plan: planJson(quickstart),
    weights: { kind: "random", seed: quickstart.model.weightsSeed },
    inputs: { text: text.get("y")!, textMask: text.get("mask")!, noiseSeed: noiseSeedOf(quickstart) },
    threads: 1,
    ...extra,
  };
}

describe("previewEvery", () => {
  it("puts the latent after every N-th step into its step event, as a capture after the solver sees it", async () => {
    expect(solver.latent).toBe(output.buffer);
    const events: NativeProgress[] = [];
    const result = await native().run(await request({ steps: 5, previewEvery: 2, captures: [{ op: solver.id, buffer: solver.latent }] }), (p) => events.push(p));
    const captured = perStep(result.captures[0], 5);
    const steps = events.filter((e) => e.phase === "step");
    expect(steps.map((e) => e.step)).toEqual([1, 2, 3, 4, 5]);
    expect(steps.map((e) => e.latent !== undefined)).toEqual([false, true, false, true, false]);
    expect(events.filter((e) => e.phase !== "step").every((e) => e.latent === undefined)).toBe(true);
    for (const e of steps.filter((x) => x.latent)) {
      expect(e.latent!.shape).toEqual(outputShape);
      expect(e.latent!.data).toBeInstanceOf(Float32Array);
      expect(bitIdentical(e.latent!.data, captured[e.step - 1]!), `step ${e.step}`).toBe(true);
    }
    // Steps 2 and 4 differ: each event has its own copy.
    expect(bitIdentical(steps[1]!.latent!.data, steps[3]!.latent!.data)).toBe(false);
  });

  it("after the last step, holds what the run returns", async () => {
    const events: NativeProgress[] = [];
    const result = await native().run(await request({ steps: 4, previewEvery: 4 }), (p) => events.push(p));
    const previews = events.filter((e) => e.latent);
    expect(previews.map((e) => e.step)).toEqual([4]);
    expect(bitIdentical(previews[0]!.latent!.data, nativeOutput(result, "latents"))).toBe(true);
  });

  it("waits for a snapshot while the main thread is busy, and every event keeps its step's latent", async () => {
    const events: NativeProgress[] = [];
    const result = await native().run(await request({ steps: 5, previewEvery: 1, captures: [{ op: solver.id, buffer: solver.latent }] }), (p) => {
      events.push(p);
      // Blocks the main thread: the run thread's later snapshots cannot be handed over meanwhile.
      if (p.latent) {
        const until = performance.now() + 40;
        while (performance.now() < until);
      }
    });
    const captured = perStep(result.captures[0], 5);
    const previews = events.filter((e) => e.latent);
    expect(previews.map((e) => e.step)).toEqual([1, 2, 3, 4, 5]);
    for (const e of previews) expect(bitIdentical(e.latent!.data, captured[e.step - 1]!), `step ${e.step}`).toBe(true);
  });

  it("refuses 0 and a run without onProgress, naming the field", async () => {
    await expect(native().run(await request({ previewEvery: 0 }), () => undefined)).rejects.toThrow(/request\.previewEvery must be at least 1/);
    await expect(native().run(await request({ previewEvery: 2 }))).rejects.toThrow(/request\.previewEvery needs an onProgress callback/);
    await expect(native().run(await request({ previewEvery: 1.5 }), () => undefined)).rejects.toThrow(/request\.previewEvery must be an integer/);
  });
});
