/**
 * `opendit run` through the CLI, in-process, on the native CPU backend: the quickstart pipeline writes
 * latents.safetensors and run.json (read back and checked against the compiled plan), runs are bit-identical,
 * overrides change the plan, progress takes the form asked for, and every failure a user can fix (a checkpoint
 * tensor of the wrong shape, a backend that is not built, text only an encoder makes) is an
 * `error:` line with exit 4 and nothing written.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { encodeF32, STORAGE_DTYPES } from "../../checkpoint/dtype.js";
import { randomTensor, writeRandomCheckpoint } from "../../checkpoint/random.js";
import { openSafetensors } from "../../checkpoint/safetensors.js";
import { writeSafetensors } from "../../checkpoint/safetensors-write.js";
import { compile } from "../../compiler/compile.js";
import { familyInfo } from "../../compiler/models/registry.js";
import { loadNative } from "../../runtime/native/addon.js";
import type { RunRecord } from "../../runtime/run/record.js";
import { run } from "./support/capture-io.js";
import { fixtureDir, repoBytes, repoFile } from "./support/fixture-dir.js";

const QUICKSTART = repoFile("pipelines/quickstart.yaml");
const stdit = familyInfo("stdit")!;
const tinyHyper = stdit.resolve(stdit.variants["stdit-tiny"]!);

/** The quickstart pipeline with `from` replaced by `to` (a line of the file, such as the checkpoint's). */
function quickstartWith(from: string, to: string): string {
  if (!QUICKSTART.includes(from)) throw new Error(`quickstart.yaml has no \`${from}\``);
  return QUICKSTART.replace(from, to);
}

const root = fixtureDir({
  "quickstart.yaml": QUICKSTART,
  "quickstart-text.safetensors": repoBytes("pipelines/quickstart-text.safetensors"),
  "from-file.yaml": quickstartWith("checkpoint: random", "checkpoint: tiny.safetensors"),
  "bad-checkpoint.yaml": quickstartWith("checkpoint: random", "checkpoint: bad.safetensors"),
  "prompts.yaml": quickstartWith("embeddings: quickstart-text.safetensors", 'prompts: ["a red panda"]\n  text_encoder: t5-v1_1-xxl').replace(
    "variant: stdit-tiny",
    "hyper: { hidden: 64, depth: 2, heads: 4, patch: 2, patch_t: 1, caption_channels: 4096, text_tokens: 8 }",
  ),
  "mp4.yaml": quickstartWith("vae: { kind: none }", "vae: { kind: sd-vae-ft-ema, checkpoint: random }").replace("formats: [latents]", "formats: [mp4, latents]"),
  "dit.yaml": [
    "version: 1",
    "name: dit-tiny-run",
    "model: { family: dit, variant: dit-tiny, checkpoint: random, dtype: fp32 }",
    "conditioning: { labels: [1, 7] }",
    "image: { height: 64, width: 64 }",
    "seed: 3",
    "scheduler: { kind: iddpm, steps: 3, guidance: 4.0 }",
    "vae: { kind: none }",
    "output: { dir: outputs/dit, formats: [latents] }",
    "",
  ].join("\n"),
});

/** The tensor `latents` of an output directory: its header entry, metadata and raw bytes. */
async function readLatents(dir: string): Promise<{ dtype: string; shape: readonly number[]; values: Float32Array; bytes: Buffer; metadata: Readonly<Record<string, string>> }> {
  const reader = await openSafetensors(join(dir, "latents.safetensors"));
  try {
    const entry = reader.header.tensors.find((t) => t.name === "latents");
    expect(entry).toBeDefined();
    expect(reader.header.tensors).toHaveLength(1);
    return { dtype: entry!.dtype, shape: entry!.shape, values: await reader.readF32("latents"), bytes: await reader.bytes("latents"), metadata: reader.header.metadata };
  } finally {
    await reader.close();
  }
}

function readRecord(dir: string): RunRecord {
  return JSON.parse(readFileSync(join(dir, "run.json"), "utf8")) as RunRecord;
}

const quickstartPlan = compile({ path: join(root, "quickstart.yaml"), text: QUICKSTART }).plan!;

describe("opendit run", () => {
  it("runs the quickstart pipeline and writes latents.safetensors and run.json", async () => {
    const out = join(root, "out-quickstart");
    const r = await run(["run", "quickstart.yaml", "--out", out], { cwd: root });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wrote out-quickstart\/latents\.safetensors \[1, 4, 4, 8, 8\] and run\.json \(10 steps, \S+ [µm]?s\/step, \S+ (µs|ms|s)\)\n$/);
    expect(readdirSync(out).sort()).toEqual(["latents.safetensors", "run.json"]);

    const latents = await readLatents(out);
    expect(latents.dtype).toBe("F32");
    expect(latents.shape).toEqual([1, 4, 4, 8, 8]);
    expect(latents.values.every(Number.isFinite)).toBe(true);
    expect(latents.values.some((v) => v !== 0)).toBe(true);
    expect(latents.metadata["opendit.plan"]).toBe(quickstartPlan.hash);
    expect(latents.metadata["opendit.pipeline"]).toBe("quickstart");

    const record = readRecord(out);
    expect(record.planHash).toBe(quickstartPlan.hash);
    expect(record.pipeline).toBe("quickstart");
    expect(record.file).toBe("quickstart.yaml");
    expect(record.steps).toBe(10);
    expect(record.planSteps).toBe(10);
    expect(record.backend).toBe("cpu");
    expect(record.rank).toBe(0);
    expect(record.world).toBe(1);
    expect(record.weights).toBe("random (seed 0)");
    expect(record.noise).toBe("seed 42");
    expect(record.threads).toBeGreaterThanOrEqual(1);
    expect(record.msPerStep.min).toBeGreaterThan(0);
    expect(record.msPerStep.min).toBeLessThanOrEqual(record.msPerStep.median);
    expect(record.seconds.total).toBeGreaterThan(0);
    expect(record.arenaBytes).toBe(quickstartPlan.arenaBytes);
    expect(record.weightBytes).toBeGreaterThan(0);
    expect(record.outputs).toEqual([{ name: "latents", file: "latents.safetensors", shape: [1, 4, 4, 8, 8], dtype: "F32", bytes: expect.any(Number) }]);
    expect(Number.isNaN(Date.parse(record.date))).toBe(false);
  });

  it("gives bit-identical latents on every run, whatever the thread count", async () => {
    const a = join(root, "out-a");
    const b = join(root, "out-b");
    expect((await run(["run", "quickstart.yaml", "--out", a], { cwd: root })).code).toBe(0);
    expect((await run(["run", "quickstart.yaml", "--out", b, "--threads", "1"], { cwd: root })).code).toBe(0);
    expect((await readLatents(b)).bytes.equals((await readLatents(a)).bytes)).toBe(true);
    expect(readRecord(b).threads).toBe(1);
  });

  it("loads a checkpoint file written by `checkpoint random` to the same latents as `checkpoint: random`", async () => {
    await writeRandomCheckpoint(join(root, "tiny.safetensors"), { family: stdit, hyper: tinyHyper, seed: 0, dtype: "fp32", size: { variant: "stdit-tiny" } });
    const fromFile = join(root, "out-file");
    const fromSeed = join(root, "out-seed");
    const r = await run(["run", "from-file.yaml", "--out", fromFile], { cwd: root });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(readRecord(fromFile).weights).toBe(join(root, "tiny.safetensors"));
    expect((await run(["run", "quickstart.yaml", "--out", fromSeed], { cwd: root })).code).toBe(0);
    expect((await readLatents(fromFile)).bytes.equals((await readLatents(fromSeed)).bytes)).toBe(true);
  });

  it("overrides the steps like `plan` does: --steps 2 runs a 2-step plan", async () => {
    const out = join(root, "out-steps");
    const r = await run(["run", "quickstart.yaml", "--out", out, "--steps", "2"], { cwd: root });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("(2 steps, ");
    const record = readRecord(out);
    expect(record.steps).toBe(2);
    expect(record.planSteps).toBe(2);
    expect(record.planHash).not.toBe(quickstartPlan.hash);
  });

  it("writes to the pipeline's output.dir, relative to the working directory, without --out", async () => {
    const r = await run(["run", "dit.yaml"], { cwd: root });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wrote outputs\/dit\/latents\.safetensors \[2, 4, 8, 8\] and run\.json \(3 steps, /);
    // An image family's latent is stored without the frame axis.
    const latents = await readLatents(join(root, "outputs/dit"));
    expect(latents.shape).toEqual([2, 4, 8, 8]);
    expect(latents.values.every(Number.isFinite)).toBe(true);
  });

  it("fails with the tensor's name, exit 4 and nothing written when the checkpoint does not fit", async () => {
    const tensors = stdit.weights(tinyHyper);
    const victim = tensors.find((t) => t.shape.length === 2)!;
    const shapes = new Map(tensors.map((t) => [t.name, t.name === victim.name ? [victim.shape[0]! + 1, victim.shape[1]!] : t.shape]));
    await writeSafetensors(
      join(root, "bad.safetensors"),
      tensors.map((t) => ({ name: t.name, dtype: STORAGE_DTYPES.fp32, shape: shapes.get(t.name)! })),
      (t) => encodeF32(randomTensor(0, t.name, t.shape), "fp32"),
    );
    const out = join(root, "out-bad");
    const r = await run(["run", "bad-checkpoint.yaml", "--out", out], { cwd: root });
    expect(r.code).toBe(4);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^error: /);
    expect(r.stderr).toContain(victim.name);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(out, "latents.safetensors"))).toBe(false);
    expect(existsSync(join(out, "run.json"))).toBe(false);
  });

  it("fails with the configure step's reason when the CUDA backend is not built", async () => {
    const { cuda } = loadNative().info().backends;
    if (cuda.built) return; // a CUDA build runs it; this checks the message of a build without one
    const out = join(root, "out-cuda");
    const r = await run(["run", "quickstart.yaml", "--out", out, "--backend", "cuda"], { cwd: root });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("error: `--backend cuda`");
    expect(r.stderr).toContain(cuda.reason);
    expect(r.stderr).toContain("--backend cpu");
    expect(existsSync(out)).toBe(false);
  });

  it("says there is no text encoder yet when the pipeline has prompts instead of embeddings", async () => {
    const r = await run(["run", "prompts.yaml", "--out", join(root, "out-prompts")], { cwd: root });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("no text encoder yet");
    expect(r.stderr).toContain("`conditioning.embeddings`");
    expect(r.stderr).toContain("`y` [1, 8, 4096]");
  });

  it("runs more than one rank through the launcher and matches one rank", async () => {
    const out = join(root, "out-world");
    const r = await run(["run", "quickstart.yaml", "--world", "2", "--layout", "cfg 2", "--out", out, "--check-against", "1"], { cwd: root });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("check against 1 rank: ok");
    expect(readRecord(out).world).toBe(2);
    expect(existsSync(join(out, "logs", "rank-1.log"))).toBe(true);
  });

  it("reports pipeline errors like `plan` does, with exit 1", async () => {
    const r = await run(["run", "quickstart.yaml", "--world", "3", "--layout", "cfg 2"], { cwd: root });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("<command line>");
  });

  it("warns that mp4 was skipped without ffmpeg on the PATH and writes the latents", async () => {
    const out = join(root, "out-mp4");
    const r = await run(["run", "mp4.yaml", "--out", out], { cwd: root, env: {} });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("warning: mp4 was skipped: ffmpeg is not on the PATH, and no other picture format was asked for (install ffmpeg for mp4)\n");
    expect(readdirSync(out).sort()).toEqual(["latents.safetensors", "run.json"]);
    expect(readRecord(out).media).toMatchObject({ files: [], notes: [expect.stringMatching(/^mp4 was skipped/)] });
    const quiet = await run(["run", "mp4.yaml", "--out", out, "-q"], { cwd: root });
    expect(quiet.stderr).toBe("");
    // Two runs with the full-size SD-VAE decoding 4 frames of 64x64 on the CPU reference backend (about 35 s each
    // on two cores).
  }, 400_000);

  it("prints progress as JSON lines on stderr and the record on stdout with --json", async () => {
    const r = await run(["run", "quickstart.yaml", "--out", join(root, "out-json"), "--json"], { cwd: root });
    expect(r.code).toBe(0);
    const events = r.stderr.trimEnd().split("\n").map((line) => JSON.parse(line) as { event: string; phase: string; step: number; steps: number; seconds: number });
    expect(events.every((e) => e.event === "progress")).toBe(true);
    const steps = events.filter((e) => e.phase === "step");
    expect(steps.length).toBeGreaterThan(0);
    expect(steps[steps.length - 1]).toMatchObject({ step: 10, steps: 10 });
    const done = JSON.parse(r.stdout) as { event: string; record: RunRecord };
    expect(done.event).toBe("done");
    expect(done.record.planHash).toBe(quickstartPlan.hash);
  });

  it("redraws one progress line on a terminal and clears it before the summary", async () => {
    const r = await run(["run", "quickstart.yaml", "--out", join(root, "out-tty")], { cwd: root, isTTY: true, env: { NO_COLOR: "1" } });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("step 10/10");
    expect(r.stderr).toContain("[########################]");
    expect(r.stderr).not.toContain("\n");
    expect(r.stderr.endsWith("\r\x1b[2K")).toBe(true);
  });
});
