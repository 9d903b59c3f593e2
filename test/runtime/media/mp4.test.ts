/**
 * runtime/media/mp4.ts with a fake `ffmpeg` on the PATH (a shell script that records its arguments and stdin and
 * writes the output file), so no real ffmpeg is needed: the arguments (raw rgb24 of the padded size at the fps,
 * libx264, yuv420p, +faststart, a hidden temporary output in the directory), the frames on stdin, the rename
 * only with the rest, the note when ffmpeg is missing, and a failing ffmpeg's stderr in the error with nothing
 * left behind.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writeMedia } from "../../../runtime/media/frames.js";
import { FfmpegError, findFfmpeg, padEven, stageMp4, stderrTail } from "../../../runtime/media/mp4.js";
import { discardStaged } from "../../../runtime/media/staging.js";

const root = mkdtempSync(join(tmpdir(), "opendit-mp4-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A directory holding an executable `ffmpeg` with `body` as its script. */
function fakeFfmpeg(name: string, body: string): string {
  const bin = join(root, name);
  mkdirSync(bin);
  writeFileSync(join(bin, "ffmpeg"), `#!/bin/sh\n${body}\n`);
  chmodSync(join(bin, "ffmpeg"), 0o755);
  return bin;
}

/**
 * Records its arguments (one a line) and stdin in $FAKE_LOG, then writes the output (the last argument). The PATH
 * it runs with holds only its own directory, so it names cat by its full path.
 */
const recording = fakeFfmpeg(
  "recording",
  ['for last; do :; done', 'printf "%s\\n" "$@" > "$FAKE_LOG/args"', '/bin/cat > "$FAKE_LOG/stdin"', 'printf "fake mp4" > "$last"'].join("\n"),
);
/** Fails at once, without reading its input, as ffmpeg does on a missing encoder. */
const failing = fakeFfmpeg("failing", ['echo "[vost#0:0] Unknown encoder \'libx264\'" >&2', 'echo "Error selecting an encoder" >&2', "exit 1"].join("\n"));

function frame(width: number, height: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 7 + seed) & 0xff);
}

describe("stageMp4", () => {
  it("pipes raw rgb24 frames to ffmpeg with the H.264 arguments and stages its output", async () => {
    const dir = join(root, "ok");
    mkdirSync(dir);
    const log = join(root, "ok-log");
    mkdirSync(log);
    const frames = [frame(6, 4, 1), frame(6, 4, 2), frame(6, 4, 3)];
    const outcome = await stageMp4(join(dir, "clip.mp4"), frames, 6, 4, { fps: 24, env: { PATH: recording, FAKE_LOG: log } });
    if (!outcome.written) throw new Error(outcome.note);
    const args = readFileSync(join(log, "args"), "utf8").trimEnd().split("\n");
    const after = (flag: string): string | undefined => args[args.indexOf(flag) + 1];
    expect(after("-f")).toBe("rawvideo");
    expect(args.slice(args.indexOf("-f"), args.indexOf("-i") + 2)).toEqual(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "6x4", "-r", "24", "-i", "pipe:0"]);
    expect(after("-c:v")).toBe("libx264");
    expect(after("-crf")).toBe("18");
    expect(args.lastIndexOf("-pix_fmt")).toBeGreaterThan(args.indexOf("-i"));
    expect(args[args.lastIndexOf("-pix_fmt") + 1]).toBe("yuv420p");
    expect(after("-movflags")).toBe("+faststart");
    // The output is a hidden temporary name in the output directory, in MP4 whatever its extension.
    const output = args[args.length - 1]!;
    expect(args[args.length - 3]).toBe("mp4");
    expect(dirname(output)).toBe(dir);
    expect(basename(output)).toMatch(/^\.clip\.mp4\.\d+\.[0-9a-f]{8}\.partial$/);
    expect(outcome.staged).toEqual({ from: output, to: join(dir, "clip.mp4") });
    expect(outcome.bytes).toBe("fake mp4".length);
    expect(outcome.notes).toEqual([]);
    // The frames, in order, nothing else.
    const stdin = readFileSync(join(log, "stdin"));
    expect(stdin.equals(Buffer.concat(frames))).toBe(true);
    // Nothing has its real name yet.
    expect(readdirSync(dir)).toEqual([basename(output)]);
    await discardStaged([outcome.staged]);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("pads an odd size to even by repeating the last column and row, and says so", async () => {
    const dir = join(root, "odd");
    mkdirSync(dir);
    const log = join(root, "odd-log");
    mkdirSync(log);
    const outcome = await stageMp4(join(dir, "odd.mp4"), [frame(3, 3, 0)], 3, 3, { fps: 7.5, crf: 23, env: { PATH: recording, FAKE_LOG: log } });
    if (!outcome.written) throw new Error(outcome.note);
    expect(outcome).toMatchObject({ width: 4, height: 4, notes: [expect.stringMatching(/4x4, padded from 3x3/)] });
    const args = readFileSync(join(log, "args"), "utf8").trimEnd().split("\n");
    expect(args[args.indexOf("-s") + 1]).toBe("4x4");
    expect(args[args.indexOf("-r") + 1]).toBe("7.5");
    expect(args[args.indexOf("-crf") + 1]).toBe("23");
    expect(readFileSync(join(log, "stdin")).length).toBe(4 * 4 * 3);
    await discardStaged([outcome.staged]);
  });

  it("says ffmpeg is not on the PATH instead of failing", async () => {
    const outcome = await stageMp4(join(root, "none.mp4"), [frame(2, 2, 0)], 2, 2, { fps: 8, env: { PATH: join(root, "no-such-dir") } });
    expect(outcome).toEqual({ written: false, note: "ffmpeg is not on the PATH" });
    expect(existsSync(join(root, "none.mp4"))).toBe(false);
  });

  it("reports a failing ffmpeg with the end of its stderr and leaves no file", async () => {
    const dir = join(root, "fail");
    mkdirSync(dir);
    // Larger than a pipe's buffer: ffmpeg quits without reading it.
    const frames = [frame(256, 256, 1), frame(256, 256, 2)];
    const error = await stageMp4(join(dir, "clip.mp4"), frames, 256, 256, { fps: 8, env: { PATH: failing } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FfmpegError);
    expect((error as Error).message).toMatch(/^ffmpeg \(.*failing\/ffmpeg\) exited with code 1 while writing .*clip\.mp4; the end of its stderr:\n\[vost#0:0\] Unknown encoder 'libx264'\nError selecting an encoder$/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("writeMedia with mp4", () => {
  const video = { shape: [2, 3, 2, 2], data: Float32Array.from({ length: 24 }, (_, i) => i / 12 - 1) };

  it("renames the mp4 with the other files once all are complete", async () => {
    const dir = join(root, "media-ok");
    const log = join(root, "media-ok-log");
    mkdirSync(log);
    const result = await writeMedia(dir, video, { fps: 8, formats: ["latents", "mp4", "gif"], name: "clip", env: { PATH: recording, FAKE_LOG: log } });
    expect(result.files.map((f) => f.file)).toEqual(["clip.gif", "clip.mp4"]);
    expect(result.notes).toEqual([]);
    expect(readdirSync(dir).sort()).toEqual(["clip.gif", "clip.mp4"]);
    expect(readFileSync(join(dir, "clip.mp4"), "utf8")).toBe("fake mp4");
  });

  it("writes the other formats and a note when ffmpeg is missing", async () => {
    const dir = join(root, "media-missing");
    const result = await writeMedia(dir, video, { fps: 8, formats: ["mp4", "png", "gif"], name: "clip", env: {} });
    expect(result.files.map((f) => f.format)).toEqual(["png", "png", "gif"]);
    expect(result.notes).toEqual(["mp4 was skipped: ffmpeg is not on the PATH; written instead: png, gif (install ffmpeg for mp4)"]);
    expect(readdirSync(dir).sort()).toEqual(["clip-0000.png", "clip-0001.png", "clip.gif"]);
    const alone = await writeMedia(join(root, "media-alone"), video, { fps: 8, formats: ["mp4"], name: "clip", env: {} });
    expect(alone).toEqual({ files: [], notes: ["mp4 was skipped: ffmpeg is not on the PATH, and no other picture format was asked for (install ffmpeg for mp4)"] });
  });

  it("writes nothing at all when ffmpeg fails: the png and gif staged before it are removed", async () => {
    const dir = join(root, "media-fail");
    await expect(writeMedia(dir, video, { fps: 8, formats: ["png", "gif", "mp4"], name: "clip", env: { PATH: failing } })).rejects.toThrow(FfmpegError);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("helpers", () => {
  it("finds an executable ffmpeg on the PATH, skipping directories without one", () => {
    expect(findFfmpeg({ PATH: [join(root, "no-such-dir"), recording].join(":") })).toBe(join(recording, "ffmpeg"));
    expect(findFfmpeg({})).toBeUndefined();
    const plain = join(root, "not-executable");
    mkdirSync(plain);
    writeFileSync(join(plain, "ffmpeg"), "");
    expect(findFfmpeg({ PATH: plain })).toBeUndefined();
  });

  it("pads by repeating the last column and row", () => {
    // 3x1: pixels A B C → 4x2: A B C C / A B C C.
    const f = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9);
    const padded = padEven(f, 3, 1);
    expect(padded).toMatchObject({ width: 4, height: 2 });
    expect(Array.from(padded.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 7, 8, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 7, 8, 9]);
    expect(padEven(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 2, 2).data.length).toBe(12);
  });

  it("keeps the last lines of a long stderr", () => {
    const long = Array.from({ length: 50 }, (_, i) => `line ${i}`).join("\n");
    const tail = stderrTail(`${long}\n`);
    expect(tail.split("\n")).toHaveLength(20);
    expect(tail.endsWith("line 49")).toBe(true);
    expect(stderrTail("x".repeat(5000)).length).toBe(2001);
  });
});
