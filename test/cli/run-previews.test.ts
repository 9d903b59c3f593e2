/**
 * Previews during a run (`output.preview_every`, `--preview-every`) end to end on the native CPU backend:
 * - one rank: the quickstart model (4 frames of 64x64, SD-VAE latents) over 4 steps with preview_every 2 writes
 *   previews/step-2.gif and step-4.gif, each frame the linear preview of the latent a capture after the solver saw
 *   on that step, and the run's outputs as before;
 * - the CLI: `--preview-every 2` (a file without the setting) names the previews in one summary line and prints
 *   nothing per step without a terminal; `--json` gives a `preview` event per preview; `--preview-every 0` and a
 *   pipeline whose VAE has no preview are refused before the run (OD2005 under <command line>, OD3318); on a
 *   terminal the progress line shows the latest preview;
 * - two ranks (`dp 2`, one process each through the launcher; the built dist/ runs the ranks): each representative
 *   sends its samples' latent and previews/step-<k>-<b>.png hold every sample in order, equal to the previews of
 *   the one-rank run's latents at those steps.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { CliIo } from "../../cli/io.js";
import { progressReporter } from "../../cli/render/run-progress.js";
import { compile } from "../../compiler/compile.js";
import { canonicalJson } from "../../compiler/plan/serialize.js";
import type { Plan } from "../../compiler/plan/types.js";
import { rgbFrames } from "../../runtime/media/frames.js";
import { latentPreview } from "../../runtime/media/preview.js";
import { loadNative, type NativeAddon, type NativeRunRequest } from "../../runtime/native/addon.js";
import { runInputs } from "../../runtime/run/inputs.js";
import { runCompiled } from "../../runtime/run/run.js";
import { decodeGif, decodePng } from "../runtime/media/decoders.js";
import { run } from "./support/capture-io.js";
import { fixtureDir, repoBytes, repoFile } from "./support/fixture-dir.js";

const QUICKSTART = repoFile("pipelines/quickstart.yaml");

/** The quickstart pipeline with SD-VAE latents over 4 steps; `output` as given. */
function quickstartWith(output: string): string {
  const text = QUICKSTART.replace("vae: { kind: none }", "vae: { kind: sd-vae-ft-ema }")
    .replace("steps: 10,", "steps: 4,")
    .replace("output: { dir: outputs/quickstart, formats: [latents] }", output);
  if (text === QUICKSTART || !text.includes(output) || !text.includes("steps: 4,")) throw new Error("quickstart.yaml changed: update this test's edits");
  return text;
}

const DIT_DP2 = [
  "version: 1",
  "name: dit-previews",
  "model: { family: dit, variant: dit-tiny, checkpoint: random, dtype: fp32 }",
  "conditioning: { labels: [1, 7] }",
  "image: { height: 64, width: 64 }",
  "seed: 3",
  "scheduler: { kind: iddpm, steps: 4, guidance: 4.0 }",
  "vae: { kind: sd-vae-ft-mse }",
  "parallel: { world: 2, layout: dp 2 }",
  "output: { formats: [latents], preview_every: 2 }",
  "runtime: { backend: cpu }",
  "",
].join("\n");

const root = fixtureDir({
  "previews.yaml": quickstartWith("output: { dir: outputs/previews, formats: [latents], preview_every: 2 }"),
  "plain.yaml": quickstartWith("output: { dir: outputs/plain, formats: [latents] }"),
  "quickstart.yaml": QUICKSTART,
  "quickstart-text.safetensors": repoBytes("pipelines/quickstart-text.safetensors"),
  "dit-dp2.yaml": DIT_DP2,
});

/** One CPU thread a rank on a 2-core CI. */
const ENV: Readonly<Record<string, string | undefined>> = { PATH: process.env["PATH"], OPENDIT_CPU_THREADS: "1" };

function compiled(file: string, options: { world?: number; layout?: string } = {}) {
  const r = compile({ path: file, text: readFileSync(join(root, file), "utf8") }, { mode: "run", baseDir: root, ...options });
  if (!r.plan || !r.spec) throw new Error(r.diagnostics.map((d) => `${d.code} ${d.message}`).join("\n"));
  return { spec: r.spec, plan: r.plan };
}

/** The solver's latent after every step of a one-rank run of `plan` (a capture after the solver op). */
function solverOf(plan: Plan): { id: number; latent: string } {
  const solver = plan.program.step.find((op) => op.op === "solver_update");
  if (solver?.op !== "solver_update") throw new Error("the plan has no solver op");
  return { id: solver.id, latent: solver.latent };
}

/** The addon, with a capture of the solver's latent added to every run; `captured` holds the last run's. */
function capturingNative(plan: Plan): { native: NativeAddon; captured: () => Float32Array } {
  const real = loadNative();
  const solver = solverOf(plan);
  let last: Float32Array | undefined;
  const native: NativeAddon = {
    info: () => real.info(),
    openTransport: (o) => real.openTransport(o),
    benchTransport: (r) => real.benchTransport(r),
    run: async (request: NativeRunRequest, onProgress) => {
      const result = await real.run({ ...request, captures: [{ op: solver.id, buffer: solver.latent }] }, onProgress);
      last = result.captures[0];
      return result;
    },
  };
  return { native, captured: () => last! };
}

/** The bytes of an fp32 array (to compare bit for bit). */
function bytesOf(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Step `step`'s latent (1-based) from a capture of `steps` steps. */
function atStep(capture: Float32Array, steps: number, step: number): Float32Array {
  const n = capture.length / steps;
  return capture.subarray((step - 1) * n, step * n);
}

describe("previews during a one-rank run", () => {
  it("writes previews/step-2.gif and step-4.gif, the linear previews of the latents after those steps", async () => {
    const { spec, plan } = compiled("previews.yaml");
    const { native, captured } = capturingNative(plan);
    const written: number[] = [];
    const summary = await runCompiled(spec, plan, { file: "previews.yaml", baseDir: root, cwd: root, native, threads: 1, env: {}, onPreview: (step) => written.push(step) });
    const out = join(root, "outputs/previews");
    expect(summary.outDir).toBe(out);
    expect(readdirSync(out).sort()).toEqual(["latents.safetensors", "previews", "run.json"]);
    expect(readdirSync(join(out, "previews")).sort()).toEqual(["step-2.gif", "step-4.gif"]);
    expect(written).toEqual([2, 4]);
    expect(summary.warnings).toEqual([]);
    expect(summary.previews).toMatchObject({ every: 2, dir: join(out, "previews"), notes: [] });
    expect(summary.previews!.files.map((f) => f.file)).toEqual(["previews/step-2.gif", "previews/step-4.gif"]);
    const capture = captured();
    for (const step of [2, 4]) {
      // The latent [1, 4, 4, 8, 8] after the step: 4 frames of 64x64, at most 256 colours, kept exactly by the gif.
      const expected = rgbFrames(latentPreview({ shape: [4, 4, 8, 8], data: atStep(capture, 4, step) }));
      const gif = decodeGif(readFileSync(join(out, `previews/step-${step}.gif`)));
      expect(gif.frames).toHaveLength(4);
      gif.frames.forEach((f, i) => expect(Buffer.from(f.rgb).equals(Buffer.from(expected.frames[i]!)), `step ${step} frame ${i}`).toBe(true));
    }
    // After the last step the preview is the final latents'.
    expect(bytesOf(atStep(capture, 4, 4)).equals(bytesOf(summary.tensors[0]!.data))).toBe(true);
  });
});

describe("opendit run --preview-every", () => {
  it("overrides the file, names the previews in one line, and prints nothing per step without a terminal", async () => {
    const r = await run(["run", "plain.yaml", "--preview-every", "2", "--threads", "1"], { cwd: root });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe("wrote 2 previews (every 2 steps) in outputs/plain/previews: step-2.gif, step-4.gif, linear latent approximation");
    expect(readdirSync(join(root, "outputs/plain/previews")).sort()).toEqual(["step-2.gif", "step-4.gif"]);
  });

  it("gives a `preview` event per preview with --json", async () => {
    const r = await run(["run", "plain.yaml", "--preview-every", "1", "--json", "--out", "json-out", "--threads", "1"], { cwd: root });
    expect(r.code).toBe(0);
    const events = r.stderr
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((e) => e["event"] === "preview");
    expect(events).toEqual([1, 2, 3, 4].map((step) => ({ event: "preview", step, files: [`json-out/previews/step-${step}.gif`] })));
    const done = JSON.parse(r.stdout) as { previews: { every: number; files: { file: string }[] } };
    expect(done.previews.every).toBe(1);
    expect(done.previews.files.map((f) => f.file)).toEqual([1, 2, 3, 4].map((k) => `previews/step-${k}.gif`));
  });

  it("refuses 0 under the command line, before running", async () => {
    const zero = await run(["run", "plain.yaml", "--preview-every", "0", "--out", "zero"], { cwd: root });
    expect(zero.code).toBe(1);
    expect(zero.stderr).toMatch(/<command line>/);
    expect(zero.stderr).toMatch(/OD2005/);
    expect(zero.stderr).toContain("`output.preview_every` must be >= 1, not 0.");
    expect(existsSync(join(root, "zero"))).toBe(false);
  });

  it("previews the quickstart as it is, `vae: none`: its latents are in STDiT's SD-VAE space", async () => {
    const none = await run(["run", "quickstart.yaml", "--preview-every", "5", "--out", "none"], { cwd: root });
    expect(none.code, none.stderr).toBe(0);
    expect(existsSync(join(root, "none", "previews", "step-5.gif"))).toBe(true);
    expect(existsSync(join(root, "none", "previews", "step-10.gif"))).toBe(true);
  });
});

describe("the progress line", () => {
  it("shows the latest preview after the step on a terminal, and nothing once the run is done", () => {
    let stderr = "";
    const terminal = { write: (c: string) => void (stderr += c), isTTY: true, columns: 160 };
    const io: CliIo = { stdout: { write: () => undefined }, stderr: terminal, isTTY: true, env: {}, cwd: root };
    const progress = progressReporter("line", "p", io);
    progress.onProgress({ phase: "setup", step: 0, steps: 4, seconds: 0.1 });
    progress.onProgress({ phase: "step", step: 1, steps: 4, seconds: 0.2 });
    progress.onPreview(1, ["out/previews/step-1-0.png", "out/previews/step-1-1.png"]);
    expect(stderr.slice(stderr.lastIndexOf("\r\x1b[2K"))).toBe("\r\x1b[2Kp  [######..................]  step 1/4  100 ms/step  ETA 300 ms  preview 1: out/previews/step-1-0.png (+1)");
    progress.onProgress({ phase: "done", step: 4, steps: 4, seconds: 0.5 });
    const before = stderr;
    progress.onPreview(4, ["out/previews/step-4-0.png"]);
    expect(stderr).toBe(before);
    progress.finish();
    expect(stderr.endsWith("\r\x1b[2K")).toBe(true);
  });

  it("writes nothing for a preview without a terminal", () => {
    let stderr = "";
    const io: CliIo = { stdout: { write: () => undefined }, stderr: { write: (c: string) => void (stderr += c) }, isTTY: false, env: {}, cwd: root };
    const progress = progressReporter("none", "p", io);
    progress.onPreview(2, ["out/previews/step-2.gif"]);
    expect(stderr).toBe("");
  });
});

describe("previews during a parallel run", () => {
  const DIST_RANK = fileURLToPath(new URL("../../dist/runtime/launch/rank-main.js", import.meta.url));

  it("puts the dp coordinates' samples together: previews/step-<k>-<b>.png equal the one-rank run's previews", async () => {
    if (!existsSync(DIST_RANK)) throw new Error(`${DIST_RANK} is not built: run \`npm run build\` (the launcher's ranks run dist/)`);
    const r = await run(["run", "dit-dp2.yaml", "--out", "dp2"], { cwd: root, env: ENV });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("wrote 2 previews (every 2 steps) in dp2/previews: step-2-0.png … step-4-1.png, linear latent approximation\n");
    const dir = join(root, "dp2/previews");
    expect(readdirSync(dir).sort()).toEqual(["step-2-0.png", "step-2-1.png", "step-4-0.png", "step-4-1.png"]);

    // The one-rank run of the same pipeline, its latent captured after every step.
    const one = compiled("dit-dp2.yaml", { world: 1, layout: "dp 1" });
    const solver = solverOf(one.plan);
    const result = await loadNative().run({
      plan: canonicalJson(one.plan),
      weights: { kind: "random", seed: one.plan.model.weightsSeed },
      inputs: await runInputs(one.spec, one.plan, root),
      threads: 1,
      captures: [{ op: solver.id, buffer: solver.latent }],
    });
    const capture = result.captures[0]!;
    for (const step of [2, 4]) {
      const latent = atStep(capture, 4, step);
      for (const b of [0, 1]) {
        const expected = rgbFrames(latentPreview({ shape: [4, 8, 8], data: latent.subarray(b * 256, (b + 1) * 256) }));
        const png = decodePng(readFileSync(join(dir, `step-${step}-${b}.png`)));
        expect(Buffer.from(png.pixels).equals(Buffer.from(expected.frames[0]!)), `step ${step} sample ${b}`).toBe(true);
      }
    }
  });
});
