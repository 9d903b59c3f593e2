/**
 * MP4 (H.264, yuv420p) through ffmpeg, when an `ffmpeg` is on the PATH: the frames go to its stdin as raw rgb24
 * at the video's frame rate, libx264 encodes them (crf 18, preset medium: near transparent for generated video
 * at a modest size; 23 is x264's default), converted to BT.709 limited-range YUV and tagged so, and
 * `+faststart` puts the index first so a player can start before the file is loaded. ffmpeg writes a hidden
 * temporary name in the output directory (staging.ts), which takes its name only with the rest of the outputs.
 *
 * yuv420p stores colour at half resolution in both directions, so the width and height must be even: an odd
 * side is padded by one pixel, a copy of the last column or row, and the note says so. Without ffmpeg the MP4
 * is skipped with a note (not an error): the other formats are written. An ffmpeg that fails is an error
 * (FfmpegError) carrying the end of its stderr.
 */
import { accessSync, constants, statSync } from "node:fs";
import { rm, stat } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { execa } from "execa";
import { stagingPath, type StagedFile } from "./staging.js";

export interface Mp4Options {
  readonly fps: number;
  /** x264's constant rate factor, 0 (lossless) to 51 (default 18). */
  readonly crf?: number;
  /** The ffmpeg to run (default: `ffmpeg` found on the PATH of `env`). */
  readonly ffmpeg?: string;
  /** The environment ffmpeg is looked up in and runs with (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export type Mp4Outcome =
  | { readonly written: true; readonly staged: StagedFile; readonly bytes: number; readonly width: number; readonly height: number; readonly notes: readonly string[] }
  | { readonly written: false; readonly note: string };

/** ffmpeg exited with an error, or could not be started. */
export class FfmpegError extends Error {
  override readonly name = "FfmpegError";
}

/** The default constant rate factor. */
export const DEFAULT_CRF = 18;
/** The most of ffmpeg's stderr an error quotes: its last lines, up to this many characters. */
const STDERR_TAIL_CHARS = 2000;
const STDERR_TAIL_LINES = 20;

/** The executable `ffmpeg` on the PATH of `env`, or undefined. */
export function findFfmpeg(env: Readonly<Record<string, string | undefined>> = process.env): string | undefined {
  const path = env.PATH ?? env.Path ?? "";
  const names = process.platform === "win32" ? ["ffmpeg.exe", "ffmpeg"] : ["ffmpeg"];
  for (const dir of path.split(delimiter)) {
    if (dir === "") continue;
    for (const name of names) {
      const candidate = join(dir, name);
      try {
        if (!statSync(candidate).isFile()) continue;
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not there, or not executable: the next directory
      }
    }
  }
  return undefined;
}

/** A frame with an odd side made even by repeating its last column and/or row. */
export function padEven(frame: Uint8Array, width: number, height: number): { data: Uint8Array; width: number; height: number } {
  const w = width + (width % 2);
  const h = height + (height % 2);
  if (w === width && h === height) return { data: frame, width, height };
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const src = Math.min(y, height - 1) * width * 3;
    const dst = y * w * 3;
    out.set(frame.subarray(src, src + width * 3), dst);
    if (w !== width) out.copyWithin(dst + width * 3, dst + (width - 1) * 3, dst + width * 3);
  }
  return { data: out, width: w, height: h };
}

/** The last lines of a process's stderr, for an error message. */
export function stderrTail(stderr: string): string {
  const lines = stderr.trimEnd().split(/\r?\n/);
  const tail = lines.slice(-STDERR_TAIL_LINES).join("\n");
  return tail.length > STDERR_TAIL_CHARS ? `…${tail.slice(-STDERR_TAIL_CHARS)}` : tail;
}

/** ffmpeg's arguments: raw rgb24 frames of `width`x`height` on stdin at `fps`, H.264 MP4 to `output`. */
export function ffmpegArguments(width: number, height: number, fps: number, crf: number, output: string): string[] {
  return [
    "-hide_banner",
    "-loglevel",
    "error",
    "-f",
    "rawvideo",
    "-pix_fmt",
    "rgb24",
    "-s",
    `${width}x${height}`,
    "-r",
    String(fps),
    "-i",
    "pipe:0",
    "-an",
    "-vf",
    "scale=out_color_matrix=bt709:out_range=tv",
    "-c:v",
    "libx264",
    "-preset",
    "medium",
    "-crf",
    String(crf),
    "-pix_fmt",
    "yuv420p",
    "-colorspace",
    "bt709",
    "-color_primaries",
    "bt709",
    "-color_trc",
    "bt709",
    "-color_range",
    "tv",
    "-movflags",
    "+faststart",
    "-f",
    "mp4",
    "-y",
    output,
  ];
}

/**
 * Encodes RGB frames (interleaved R, G, B bytes, `width · height · 3` each) to an MP4 staged for `to`. Resolves
 * with the staged file, or with `written: false` and a note when no ffmpeg is found.
 */
export async function stageMp4(to: string, frames: readonly Uint8Array[], width: number, height: number, options: Mp4Options): Promise<Mp4Outcome> {
  if (frames.length === 0) throw new RangeError("an MP4 needs at least one frame");
  if (!(Number.isFinite(options.fps) && options.fps > 0)) throw new RangeError(`an MP4's frame rate must be a positive number, not ${options.fps}`);
  const crf = options.crf ?? DEFAULT_CRF;
  if (!(Number.isInteger(crf) && crf >= 0 && crf <= 51)) throw new RangeError(`x264's crf is a whole number from 0 to 51, not ${crf}`);
  frames.forEach((f, i) => {
    if (f.length !== width * height * 3) throw new RangeError(`MP4 frame ${i} is ${f.length} bytes, not ${width * height * 3} (${width}x${height} RGB)`);
  });
  const env = options.env ?? process.env;
  const ffmpeg = options.ffmpeg ?? findFfmpeg(env);
  if (ffmpeg === undefined) return { written: false, note: "ffmpeg is not on the PATH" };

  const even = { width: width + (width % 2), height: height + (height % 2) };
  const notes = even.width !== width || even.height !== height ? [`the MP4 is ${even.width}x${even.height}, padded from ${width}x${height} by repeating the last column or row (yuv420p needs even sides)`] : [];
  const from = stagingPath(to);
  function* input(): Generator<Uint8Array> {
    for (const f of frames) yield padEven(f, width, height).data;
  }
  try {
    const result = await execa(ffmpeg, ffmpegArguments(even.width, even.height, options.fps, crf, from), {
      env: { ...env },
      extendEnv: false,
      stdin: input(),
      stdout: "ignore",
      stderr: "pipe",
      reject: false,
      stripFinalNewline: true,
    });
    if (result.failed) {
      const tail = stderrTail(typeof result.stderr === "string" ? result.stderr : "");
      const how =
        result.exitCode !== undefined && result.exitCode !== 0 ? `exited with code ${result.exitCode}` : result.signal ? `was killed by ${result.signal}` : `failed: ${result.shortMessage}`;
      throw new FfmpegError(`ffmpeg (${ffmpeg}) ${how} while writing ${to}${tail ? `; the end of its stderr:\n${tail}` : ""}`);
    }
    const bytes = (await stat(from).catch(() => undefined))?.size;
    if (bytes === undefined) throw new FfmpegError(`ffmpeg (${ffmpeg}) exited without error but wrote no file for ${to}`);
    return { written: true, staged: { from, to }, bytes, width: even.width, height: even.height, notes };
  } catch (error) {
    await rm(from, { force: true });
    throw error;
  }
}
