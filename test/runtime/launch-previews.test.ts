/**
 * runtime/launch/previews.ts, a parallel run's previews during the run, without processes: which ranks ask their
 * native run for the latent (the representatives, one per dp coordinate, on PipeFusion's last stage), the split of
 * a progress event into its progress and its latent, and the assembly of a step's latents in dp order whatever
 * order they arrive in (other ranks' and repeated ones ignored); then a `preview` message through a real store.
 */
import { describe, expect, it } from "vitest";
import { compile } from "../../compiler/compile.js";
import type { RankJob } from "../../runtime/launch/job.js";
import { previewAssembler, rankPreviewEvery, splitPreview, wirePreview } from "../../runtime/launch/previews.js";
import { hostStore, joinRendezvous, type WireTensor } from "../../runtime/launch/store.js";
import type { NativeLatent, NativeProgress } from "../../runtime/native/addon.js";

function job(layout: string, world: number, previewEvery?: number): RankJob {
  const text = [
    "version: 1",
    "name: p",
    "model: { family: dit, variant: dit-tiny, checkpoint: random, dtype: fp32 }",
    "conditioning: { labels: [1, 7] }",
    "image: { height: 64, width: 64 }",
    "scheduler: { kind: iddpm, steps: 4, guidance: 4.0 }",
    "vae: { kind: sd-vae-ft-ema }",
    `parallel: { world: ${world}, layout: "${layout}" }`,
    previewEvery !== undefined ? `output: { preview_every: ${previewEvery} }` : "",
    "",
  ].join("\n");
  const r = compile(text, { baseDir: "/nonexistent" });
  if (!r.plan || !r.spec) throw new Error(r.diagnostics.map((d) => `${d.code} ${d.message}`).join("\n"));
  return { file: "p.yaml", baseDir: "/nonexistent", spec: r.spec, plan: r.plan, planText: "", backend: "cpu" };
}

/** A latent of `samples` samples [samples, 4, 1, 2, 2], values from `first`. */
function latent(samples: number, first: number): NativeLatent {
  return { shape: [samples, 4, 1, 2, 2], data: Float32Array.from({ length: samples * 16 }, (_, i) => first + i) };
}

describe("rankPreviewEvery", () => {
  it("asks the representatives of every dp coordinate, and only when the Spec asks", () => {
    const dp = job("dp 2 x cfg 2", 4, 3);
    const asked = [0, 1, 2, 3].map((r) => rankPreviewEvery(dp, r));
    expect(asked.filter((n) => n === 3)).toHaveLength(2);
    expect(asked.filter((n) => n === undefined)).toHaveLength(2);
    expect([0, 1, 2, 3].map((r) => rankPreviewEvery(job("dp 2 x cfg 2", 4), r))).toEqual([undefined, undefined, undefined, undefined]);
  });
});

describe("splitPreview", () => {
  it("sends the progress without its latent, and the latent on its own", () => {
    const progress: NativeProgress[] = [];
    const previews: { step: number; latent: WireTensor }[] = [];
    const split = splitPreview(
      (p) => progress.push(p),
      (step, l) => previews.push({ step, latent: l }),
    );
    const l = latent(1, 0);
    split({ phase: "step", step: 2, steps: 4, seconds: 1, latent: l });
    split({ phase: "step", step: 3, steps: 4, seconds: 2 });
    expect(progress).toEqual([
      { phase: "step", step: 2, steps: 4, seconds: 1 },
      { phase: "step", step: 3, steps: 4, seconds: 2 },
    ]);
    expect(previews).toEqual([{ step: 2, latent: wirePreview(l) }]);
  });
});

describe("previewAssembler", () => {
  it("puts a step's latents together in dp order once every representative's came", () => {
    const { plan } = job("dp 2", 2, 1);
    const got: { step: number; latent: NativeLatent }[] = [];
    const add = previewAssembler(plan, (step, l) => got.push({ step, latent: l }));
    add(1, 2, wirePreview(latent(1, 100)));
    expect(got).toEqual([]);
    add(1, 1, wirePreview(latent(1, 200)));
    add(0, 2, wirePreview(latent(1, 0)));
    expect(got.map((g) => g.step)).toEqual([2]);
    expect(got[0]!.latent.shape).toEqual([2, 4, 1, 2, 2]);
    expect(Array.from(got[0]!.latent.data)).toEqual([...Array.from({ length: 16 }, (_, i) => i), ...Array.from({ length: 16 }, (_, i) => 100 + i)]);
    // A repeat of a step already complete, and a rank that is no representative, change nothing.
    add(0, 2, wirePreview(latent(1, 50)));
    add(5, 1, wirePreview(latent(1, 50)));
    add(0, 1, wirePreview(latent(1, 300)));
    expect(got.map((g) => g.step)).toEqual([2, 1]);
    expect(got[1]!.latent.data[0]).toBe(300);
    expect(got[1]!.latent.data[16]).toBe(200);
  });

  it("carries a `preview` message from a rank to the store's host", async () => {
    const received: { rank: number; step: number; latent: WireTensor }[] = [];
    const host = await hostStore({ host: "127.0.0.1", port: 0 }, { world: 1, timeoutMs: 5_000, onPreview: (rank, step, l) => received.push({ rank, step, latent: l }) });
    try {
      const client = await joinRendezvous({ host: "127.0.0.1", port: host.port }, { rank: 0, host: "127.0.0.1", port: 1 }, 5_000);
      const wire = wirePreview(latent(1, 7));
      client.preview(4, wire);
      await new Promise<void>((resolve) => {
        const until = Date.now() + 5_000;
        const poll = (): void => (received.length > 0 || Date.now() > until ? resolve() : void setTimeout(poll, 5));
        poll();
      });
      expect(received).toEqual([{ rank: 0, step: 4, latent: wire }]);
      client.close();
    } finally {
      await host.close();
    }
  });
});
