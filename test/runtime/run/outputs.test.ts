/**
 * runtime/run/outputs.ts and the run checks of run.ts that need no native run: outputs are stored with the
 * shape of their plan buffer (an image family's latent without its frame axis), written all or nothing with the
 * staged media (a failure, ffmpeg's included, leaves neither temporary files nor a directory the run created,
 * and keeps an earlier run's files),
 * and the backend is chosen, or refused with the reason, from the flag, the file and what the addon has.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openSafetensors } from "../../../checkpoint/safetensors.js";
import { compile } from "../../../compiler/compile.js";
import type { Plan } from "../../../compiler/plan/types.js";
import { FfmpegError } from "../../../runtime/media/mp4.js";
import { writeStaged } from "../../../runtime/media/staging.js";
import type { NativeInfo } from "../../../runtime/native/addon.js";
import { RunError } from "../../../runtime/run/errors.js";
import { outputTensors, writeRunOutputs } from "../../../runtime/run/outputs.js";
import { chooseBackend, cudaRunsSeveralRanks, runnableBackends } from "../../../runtime/run/run.js";

const dir = mkdtempSync(join(tmpdir(), "opendit-outputs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function plan(text: string): Plan {
  const result = compile(text, { baseDir: dir, fileExists: () => true });
  if (!result.plan) throw new Error(result.diagnostics.map((d) => d.message).join("\n"));
  return result.plan;
}

const IMAGE = [
  "version: 1",
  "name: image",
  "model: { family: dit, variant: dit-tiny, checkpoint: random, dtype: fp32 }",
  "conditioning: { labels: [1, 7] }",
  "image: { height: 64, width: 64 }",
  "scheduler: { kind: iddpm, steps: 2, guidance: 4.0 }",
  "vae: { kind: none }",
  "",
].join("\n");

const META = { planHash: "abc", pipeline: "image", version: "0.0.0" };

describe("outputTensors", () => {
  it("stores an image family's latent [B, C, 1, H, W] as [B, C, H, W]", () => {
    const p = plan(IMAGE);
    const [latents] = outputTensors(p, [{ name: "latents", shape: [2, 4, 1, 8, 8], data: new Float32Array(2 * 4 * 64) }]);
    expect(latents).toMatchObject({ name: "latents", file: "latents.safetensors", shape: [2, 4, 8, 8] });
  });

  it("refuses a missing output or one of the wrong size, naming it", () => {
    const p = plan(IMAGE);
    expect(() => outputTensors(p, [])).toThrow(/returned no output `latents`/);
    expect(() => outputTensors(p, [{ name: "latents", shape: [1], data: new Float32Array(3) }])).toThrow(/3 values for output `latents`, but its buffer `latent` is \[2, 4, 1, 8, 8\]/);
  });
});

describe("writeRunOutputs", () => {
  const tensor = { name: "latents", file: "latents.safetensors", shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) };

  it("creates the directory and writes the tensor with its metadata, then the record", async () => {
    const out = join(dir, "a", "b");
    const written = await writeRunOutputs(out, [tensor], META, (files, seconds) => {
      expect(seconds).toBeGreaterThanOrEqual(0);
      return `${JSON.stringify(files)}\n`;
    });
    expect(written).toEqual([{ name: "latents", file: "latents.safetensors", shape: [2, 3], dtype: "F32", bytes: expect.any(Number) }]);
    expect(readdirSync(out).sort()).toEqual(["latents.safetensors", "run.json"]);
    expect(JSON.parse(readFileSync(join(out, "run.json"), "utf8"))).toEqual(JSON.parse(JSON.stringify(written)));
    const reader = await openSafetensors(join(out, "latents.safetensors"));
    expect(reader.header.metadata).toMatchObject({ "opendit.plan": "abc", "opendit.pipeline": "image", "opendit.version": "0.0.0" });
    expect(Array.from(await reader.readF32("latents"))).toEqual([1, 2, 3, 4, 5, 6]);
    await reader.close();
  });

  it("leaves nothing behind when it fails: no temporary files, no directory it created", async () => {
    const out = join(dir, "fresh", "deeper");
    const failing = writeRunOutputs(out, [tensor], META, () => {
      throw new Error("record failed");
    });
    await expect(failing).rejects.toThrow("record failed");
    expect(readdirSync(dir)).not.toContain("fresh");
  });

  it("keeps an earlier run's files when a new run fails to write", async () => {
    const out = join(dir, "kept");
    mkdirSync(out);
    writeFileSync(join(out, "run.json"), "earlier\n");
    await expect(writeRunOutputs(out, [{ ...tensor, data: new Float32Array(5) }], META, () => "{}\n")).rejects.toThrow(/needs 24/);
    expect(readdirSync(out)).toEqual(["run.json"]);
    expect(readFileSync(join(out, "run.json"), "utf8")).toBe("earlier\n");
  });

  it("commits the staged media with the tensors and the record, and removes them when the record fails", async () => {
    const out = join(dir, "with-media");
    const media = async (target: string) => [await writeStaged(join(target, "preview.png"), Uint8Array.of(1, 2, 3))];
    await writeRunOutputs(out, [tensor], META, () => "{}\n", media);
    expect(readdirSync(out).sort()).toEqual(["latents.safetensors", "preview.png", "run.json"]);
    const failed = join(dir, "with-media-failing");
    await expect(
      writeRunOutputs(failed, [tensor], META, () => {
        throw new Error("record failed");
      }, media),
    ).rejects.toThrow("record failed");
    expect(readdirSync(dir)).not.toContain("with-media-failing");
  });

  it("turns an ffmpeg failure into a RunError, leaving nothing", async () => {
    const out = join(dir, "ffmpeg-failing");
    const error = await writeRunOutputs(out, [tensor], META, () => "{}\n", async () => {
      throw new FfmpegError("ffmpeg exited with code 1 while writing preview.mp4");
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RunError);
    expect((error as RunError).message).toBe(`cannot write the outputs into ${out}: ffmpeg exited with code 1 while writing preview.mp4`);
    expect(readdirSync(dir)).not.toContain("ffmpeg-failing");
  });

  it("turns a file-system failure into a RunError naming the directory", async () => {
    const blocker = join(dir, "blocker");
    writeFileSync(blocker, "a file where the directory should be");
    const error = await writeRunOutputs(join(blocker, "out"), [tensor], META, () => "{}\n").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RunError);
    expect((error as RunError).message).toContain(`cannot write the outputs into ${join(blocker, "out")}`);
  });
});

describe("chooseBackend", () => {
  const NO_NCCL = "nccl.h not found (set NCCL_ROOT)";
  /** A build with or without CUDA and, with it, with or without NCCL ("unreported": an addon that does not say). */
  const info = (built: boolean, nccl: boolean | "unreported" = false): NativeInfo => ({
    version: "0.0.0",
    backends: {
      cpu: { built: true, threads: 2, compiler: "test" },
      cuda: {
        built,
        reason: built ? "nvcc 12" : "no CUDA compiler (nvcc) found",
        ...(nccl === "unreported" ? {} : { nccl: built && nccl ? { built: true, reason: "NCCL 2.21.5, /usr/lib/libnccl.so" } : { built: false, reason: built ? NO_NCCL : "the CUDA backend is not built" } }),
      },
    },
  });

  it("runs on CUDA where built unless asked otherwise, and on the CPU elsewhere", () => {
    expect(chooseBackend(undefined, undefined, info(false))).toBe("cpu");
    expect(chooseBackend(undefined, undefined, info(true))).toBe("cuda");
    expect(chooseBackend("cpu", "cuda", info(false))).toBe("cpu");
    expect(chooseBackend("cpu", undefined, info(true))).toBe("cpu");
    expect(chooseBackend(undefined, "cpu", info(true))).toBe("cpu");
    expect(chooseBackend("cuda", "cpu", info(true))).toBe("cuda");
    expect(runnableBackends(info(false))).toEqual(["cpu"]);
    expect(runnableBackends(info(true))).toEqual(["cpu", "cuda"]);
  });

  it("runs a plan of several ranks on the CPU without NCCL, and refuses CUDA for it naming NCCL's reason", () => {
    expect(chooseBackend(undefined, undefined, info(true), 2)).toBe("cpu");
    expect(() => chooseBackend("cuda", undefined, info(true), 2)).toThrow(
      `\`--backend cuda\`: this plan runs on 2 ranks, and the CUDA backend runs several ranks only over NCCL, which this build does not have: ${NO_NCCL}; run with \`--backend cpu\`, or on one rank`,
    );
    expect(() => chooseBackend(undefined, "cuda", info(true), 4)).toThrow(/`runtime\.backend: cuda`: this plan runs on 4 ranks, .*nccl\.h not found/);
    // An addon that does not report NCCL runs several ranks on the CPU, as one without it.
    expect(chooseBackend(undefined, undefined, info(true, "unreported"), 2)).toBe("cpu");
    expect(() => chooseBackend("cuda", undefined, info(true, "unreported"), 2)).toThrow(/does not report NCCL/);
    // Without CUDA at all, the CUDA backend's own reason comes first.
    expect(() => chooseBackend("cuda", undefined, info(false), 2)).toThrow(/does not have: no CUDA compiler \(nvcc\) found/);
  });

  it("runs a plan of several ranks on CUDA by default where NCCL is built, and as asked", () => {
    expect(chooseBackend(undefined, undefined, info(true, true), 2)).toBe("cuda");
    expect(chooseBackend(undefined, undefined, info(true, true), 8)).toBe("cuda");
    expect(chooseBackend("cuda", undefined, info(true, true), 4)).toBe("cuda");
    expect(chooseBackend(undefined, "cuda", info(true, true), 4)).toBe("cuda");
    // Asked for the CPU (flag or file), it stays there.
    expect(chooseBackend("cpu", undefined, info(true, true), 2)).toBe("cpu");
    expect(chooseBackend(undefined, "cpu", info(true, true), 2)).toBe("cpu");
    expect(cudaRunsSeveralRanks(info(true, true))).toEqual({ built: true, reason: "NCCL 2.21.5, /usr/lib/libnccl.so" });
    expect(cudaRunsSeveralRanks(info(false, true))).toEqual({ built: false, reason: "no CUDA compiler (nvcc) found" });
  });

  it("refuses CUDA with the configure step's reason, saying where it was asked for", () => {
    expect(() => chooseBackend("cuda", undefined, info(false))).toThrow("`--backend cuda` asks for the CUDA backend, which this build of opendit does not have: no CUDA compiler (nvcc) found");
    expect(() => chooseBackend(undefined, "cuda", info(false))).toThrow(/`runtime\.backend: cuda`.*`--backend cpu` \(or `runtime\.backend: cpu` in the file\)/);
  });
});
