/**
 * A parallel run's VAE decode from the ranks' reports (runtime/launch/rank.ts rankVideo, assemble.ts
 * assembleVideo, publish.ts reportVideo), on compiled plans of a class-conditional DiT of two samples whose
 * output asks for png:
 *
 * - dp 2 (whole decode, plan.decode.ranks [0, 1], one sample each): each rank reports its sample as RGB with its
 *   dp coordinate and first sample; the samples come out in dp order whatever order the reports are in;
 * - cfg 2 (patch decode over the decode group [0, 1], both samples): the group's first member reports the video;
 * - a run that decoded (a decoding rank spent time decoding) without a coordinate's video is a RunError naming
 *   that coordinate's decoding ranks; a video from a rank that does not decode it, or of the wrong samples, too;
 *   a plan without a decode, or a run in which no rank decoded, gives no video (the latent preview is written).
 */
import { describe, expect, it } from "vitest";
import { compile } from "../../compiler/compile.js";
import { canonicalJson } from "../../compiler/plan/serialize.js";
import { assembleVideo, decodedSamples, dpCoordinate } from "../../runtime/launch/assemble.js";
import type { RankJob } from "../../runtime/launch/job.js";
import { reportVideo } from "../../runtime/launch/publish.js";
import { rankVideo } from "../../runtime/launch/rank.js";
import type { RankReport } from "../../runtime/launch/store.js";
import type { NativeRunResult } from "../../runtime/native/addon.js";
import { RunError } from "../../runtime/run/errors.js";

/** The DiT of two samples (labels 1 and 7) at 16x16, with png, on `layout` (none: one rank). */
function job(layout: string | undefined, extra = "", formats = "[latents, png]"): RankJob {
  const text = [
    "version: 1",
    "name: decoded",
    "model: { family: dit, variant: dit-tiny, checkpoint: random, dtype: fp32 }",
    "conditioning: { labels: [1, 7] }",
    "image: { height: 16, width: 16 }",
    "scheduler: { kind: iddpm, steps: 2, guidance: 4.0 }",
    `vae: { kind: sd-vae-ft-ema, checkpoint: random${extra} }`,
    `output: { dir: o, formats: ${formats} }`,
    "runtime: { backend: cpu }",
    ...(layout ? [`parallel: { world: 2, layout: "${layout}" }`] : []),
    "",
  ].join("\n");
  const r = compile(text, { mode: "run", baseDir: "." });
  if (!r.plan || !r.spec) throw new Error(r.diagnostics.map((d) => d.message).join("\n"));
  return { file: "decoded.yaml", baseDir: ".", spec: r.spec, plan: r.plan, planText: canonicalJson(r.plan), backend: "cpu" };
}

/** A native result whose decode is `samples` images of 16x16, sample s filled with value −1 + 0.25 · (s + tag). */
function nativeResult(samples: number, tag: number): NativeRunResult {
  const plane = 16 * 16;
  const data = new Float32Array(samples * 3 * plane);
  for (let s = 0; s < samples; s++) data.fill(-1 + 0.25 * (s + tag), s * 3 * plane, (s + 1) * 3 * plane);
  return {
    outputs: [
      { name: "latents", shape: [samples, 4, 1, 2, 2], data: new Float32Array(samples * 16) },
      { name: "video", shape: [samples, 3, 1, 16, 16], data },
    ],
    captures: [],
    timings: { load: 0, bind: 0, inputs: 0, setup: 0, steps: 0, outputs: 0, decode: 0.1, perStep: [] },
    arenaBytes: 0,
    weightBytes: 0,
    threads: 1,
    backend: "cpu",
    deviceBytes: 0,
  };
}

/** A rank's report: its video where `result` has one, its decode seconds. */
function report(j: RankJob, rank: number, result: NativeRunResult | undefined, decodeSeconds = 0.1): RankReport {
  const video = result ? rankVideo(j, rank, result) : undefined;
  return {
    rank,
    ...(video ? { video } : {}),
    timings: { load: 0, bind: 0, inputs: 0, setup: 0, steps: 0, outputs: 0, decode: decodeSeconds, perStep: [] },
    threads: 1,
    arenaBytes: 0,
    weightBytes: 0,
    hostname: "h",
    seconds: 0,
  };
}

/** The first byte (R of the top-left pixel) of each sample's picture. */
function firstBytes(videos: ReturnType<typeof reportVideo>): number[] {
  return (videos ?? []).map((v) => v.frames[0]![0]!);
}

describe("a parallel run's decoded samples", () => {
  it("dp 2: each rank reports its own sample, and they come out in dp order", () => {
    const j = job("dp 2");
    expect(j.plan.decode).toMatchObject({ ranks: [0, 1], split: { kind: "whole" }, samples: 1 });
    expect([dpCoordinate(j.plan, 0), dpCoordinate(j.plan, 1)]).toEqual([0, 1]);
    expect(decodedSamples(j.plan, 1)).toEqual({ dp: 1, first: 1, count: 1 });
    const r0 = report(j, 0, nativeResult(1, 0));
    const r1 = report(j, 1, nativeResult(1, 4));
    expect(r1.video).toMatchObject({ dp: 1, firstSample: 1, shape: [1, 1, 16, 16, 3], image: true });
    // Bytes: value −1 → 0, value 0 (tag 4) → 128.
    expect(firstBytes(reportVideo(j, [r1, r0]))).toEqual([0, 128]);
    expect(reportVideo(j, [r0, r1])!.every((v) => v.image && v.width === 16 && v.height === 16)).toBe(true);
  });

  it("cfg 2: the decode group's first member reports both samples", () => {
    const j = job("cfg 2");
    expect(j.plan.decode).toMatchObject({ ranks: [0, 1], split: { kind: "patch", parts: 2 }, samples: 2 });
    const videos = reportVideo(j, [report(j, 0, nativeResult(2, 0)), report(j, 1, undefined)]);
    expect(firstBytes(videos)).toEqual([0, 32]);
    const whole = job("cfg 2", ", parallel: none");
    expect(whole.plan.decode).toMatchObject({ ranks: [0], split: { kind: "whole" }, samples: 2 });
    expect(firstBytes(reportVideo(whole, [report(whole, 0, nativeResult(2, 0)), report(whole, 1, undefined, 0)]))).toEqual([0, 32]);
  });

  it("names the decoding ranks of a dp coordinate whose video is missing from a run that decoded", () => {
    const dp = job("dp 2");
    expect(() => reportVideo(dp, [report(dp, 0, nativeResult(1, 0)), report(dp, 1, undefined)])).toThrow(RunError);
    expect(() => reportVideo(dp, [report(dp, 0, nativeResult(1, 0)), report(dp, 1, undefined)])).toThrow(
      "the VAE decode of dp coordinate 1 (sample 1) is missing: none of its decoding rank 1 (plan.decode.ranks) reported a video",
    );
    const cfg = job("cfg 2");
    expect(() => reportVideo(cfg, [report(cfg, 0, undefined), report(cfg, 1, undefined)])).toThrow(
      "the VAE decode of dp coordinate 0 (samples 0 to 1) is missing: none of its decoding ranks 0, 1 (plan.decode.ranks) reported a video",
    );
  });

  it("refuses a video from a rank that does not decode it, twice, or of other samples", () => {
    const whole = job("cfg 2", ", parallel: none");
    expect(() => reportVideo(whole, [report(whole, 0, undefined), report(whole, 1, nativeResult(2, 0))])).toThrow(
      "rank 1 reported the VAE decode of dp coordinate 0, but it is not one of its decoding rank 0",
    );
    const cfg = job("cfg 2");
    expect(() => reportVideo(cfg, [report(cfg, 0, nativeResult(2, 0)), report(cfg, 1, nativeResult(2, 0))])).toThrow("the VAE decode of dp coordinate 0 came from ranks 0, 1; one rank returns it");
    const dp = job("dp 2");
    const shifted = { ...report(dp, 1, nativeResult(1, 0)) };
    expect(() => reportVideo(dp, [report(dp, 0, nativeResult(1, 0)), { ...shifted, video: { ...shifted.video!, firstSample: 0 } }])).toThrow(
      "rank 1 reported the decoded sample 0, but dp coordinate 1 decodes sample 1",
    );
    expect(() => rankVideo(dp, 1, nativeResult(2, 0))).toThrow(/plan\.decode gives each dp coordinate 1 samples/);
  });

  it("gives no video where the plan has no decode or no rank decoded", () => {
    const latentsOnly = job("dp 2", "", "[latents]");
    expect(latentsOnly.plan.decode).toBeUndefined();
    expect(reportVideo(latentsOnly, [report(latentsOnly, 0, undefined, 0), report(latentsOnly, 1, undefined, 0)])).toBeUndefined();
    const dp = job("dp 2");
    expect(reportVideo(dp, [report(dp, 0, undefined, 0), report(dp, 1, undefined, 0)])).toBeUndefined();
  });

  it("assembleVideo refuses a video where the plan has no decode", () => {
    const latentsOnly = job(undefined, "", "[latents]");
    expect(() => assembleVideo(latentsOnly.plan, [{ rank: 0, dp: 0, firstSample: 0, samples: [] }])).toThrow(/the plan has no VAE decode/);
  });
});
