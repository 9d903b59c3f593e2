/**
 * From a decoded video tensor to files: the tensor ([F, 3, H, W], or an image's [3, H, W], values in [−1, 1] as
 * the SD-VAE decoder gives them) becomes 8-bit RGB frames, byte = round(clamp((x + 1) / 2, 0, 1) · 255) (models.md
 * §10.1), and writeMedia writes the formats asked for: png (one file per frame, `<name>-0000.png` …, or
 * `<name>.png` for an image), gif (gif.ts) and mp4 (mp4.ts, skipped with a note where no ffmpeg is found).
 * Every file is staged under a temporary name and renamed only when all are complete (staging.ts); stageMedia
 * leaves the renaming to a caller that commits more files with them (the run's outputs).
 */
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { encodeGif } from "./gif.js";
import { stageMp4 } from "./mp4.js";
import { encodePng } from "./png.js";
import { commitStaged, discardStaged, writeStaged, type StagedFile } from "./staging.js";

/** The picture formats; a pipeline's `latents` is written by the run itself. */
export const MEDIA_FORMATS = ["png", "gif", "mp4"] as const;
export type MediaFormat = (typeof MEDIA_FORMATS)[number];

/** A decoded video [F, 3, H, W] or image [3, H, W], row-major, values in [−1, 1]. */
export interface VideoTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** A video as 8-bit RGB frames (interleaved R, G, B, rows from the top); `image` for a tensor without F. */
export interface RgbVideo {
  readonly frames: readonly Uint8Array[];
  readonly width: number;
  readonly height: number;
  readonly image: boolean;
}

/** One file written. */
export interface WrittenMedia {
  readonly format: MediaFormat;
  /** The file's name in the output directory. */
  readonly file: string;
  readonly bytes: number;
}

export interface MediaOptions {
  /** Frames per second (gif delays, mp4 rate). */
  readonly fps: number;
  /** The formats asked for; those other than png, gif and mp4 (such as `latents`) are not this module's. */
  readonly formats: readonly string[];
  /** The files' base name: letters, digits, `.`, `_`, `-`. */
  readonly name: string;
  /** GIF: Floyd–Steinberg dithering (default true). */
  readonly dither?: boolean;
  /** MP4: x264's crf (default 18), the ffmpeg to run, the environment it is found in and runs with. */
  readonly crf?: number;
  readonly ffmpeg?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface MediaResult {
  readonly files: readonly WrittenMedia[];
  /** What was not done as asked, and why (an MP4 skipped without ffmpeg, a padded size, a GIF frame rate). */
  readonly notes: readonly string[];
}

/** Staged media: the files under their temporary names, for the caller to commit or discard. */
export interface StagedMedia extends MediaResult {
  readonly staged: readonly StagedFile[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** One decoded value as a byte: round(clamp((x + 1) / 2, 0, 1) · 255); NaN is 0. */
export function pixelByte(x: number): number {
  const v = (x + 1) / 2;
  if (!(v > 0)) return 0;
  if (v >= 1) return 255;
  return Math.round(v * 255);
}

/** The RGB frames of a decoded video [F, 3, H, W] or image [3, H, W]. */
export function rgbFrames(video: VideoTensor): RgbVideo {
  const { shape, data } = video;
  const image = shape.length === 3;
  if (!(shape.length === 3 || shape.length === 4) || shape[shape.length - 3] !== 3 || !shape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new RangeError(`a decoded video is [F, 3, H, W] or an image [3, H, W], not [${shape.join(", ")}]`);
  }
  const [frames, , height, width] = image ? [1, ...shape] : shape;
  const plane = height! * width!;
  if (data.length !== frames! * 3 * plane) throw new RangeError(`a decoded video [${shape.join(", ")}] has ${frames! * 3 * plane} values, not ${data.length}`);
  const out: Uint8Array[] = [];
  for (let f = 0; f < frames!; f++) {
    const rgb = new Uint8Array(plane * 3);
    const base = f * 3 * plane;
    for (let c = 0; c < 3; c++) {
      const channel = base + c * plane;
      for (let i = 0; i < plane; i++) rgb[3 * i + c] = pixelByte(data[channel + i]!);
    }
    out.push(rgb);
  }
  return { frames: out, width: width!, height: height!, image };
}

/** The png files' names: `<name>.png` for an image, else `<name>-0000.png` … (at least 4 digits). */
export function pngNames(name: string, frames: number, image: boolean): string[] {
  if (image) return [`${name}.png`];
  const digits = Math.max(4, String(frames - 1).length);
  return Array.from({ length: frames }, (_, i) => `${name}-${String(i).padStart(digits, "0")}.png`);
}

/**
 * Encodes the formats asked for and stages them in `dir` (which must exist). On failure nothing staged is left.
 */
export async function stageMedia(dir: string, video: VideoTensor | RgbVideo, options: MediaOptions): Promise<StagedMedia> {
  if (!NAME.test(options.name)) throw new RangeError(`a media file name is letters, digits, \`.\`, \`_\` and \`-\`, not \`${options.name}\``);
  const formats = MEDIA_FORMATS.filter((f) => options.formats.includes(f));
  const rgb = "frames" in video ? video : rgbFrames(video);
  const staged: StagedFile[] = [];
  const files: WrittenMedia[] = [];
  const notes: string[] = [];
  try {
    if (formats.includes("png")) {
      const names = pngNames(options.name, rgb.frames.length, rgb.image);
      for (let i = 0; i < names.length; i++) {
        const bytes = encodePng({ width: rgb.width, height: rgb.height, channels: 3, data: rgb.frames[i]! });
        staged.push(await writeStaged(join(dir, names[i]!), bytes));
        files.push({ format: "png", file: names[i]!, bytes: bytes.length });
      }
    }
    if (formats.includes("gif")) {
      const gif = encodeGif(rgb.frames, rgb.width, rgb.height, { fps: options.fps, ...(options.dither !== undefined ? { dither: options.dither } : {}) });
      const file = `${options.name}.gif`;
      staged.push(await writeStaged(join(dir, file), gif.bytes));
      files.push({ format: "gif", file, bytes: gif.bytes.length });
      notes.push(...gif.notes);
    }
    if (formats.includes("mp4")) {
      const file = `${options.name}.mp4`;
      const mp4 = await stageMp4(join(dir, file), rgb.frames, rgb.width, rgb.height, {
        fps: options.fps,
        ...(options.crf !== undefined ? { crf: options.crf } : {}),
        ...(options.ffmpeg !== undefined ? { ffmpeg: options.ffmpeg } : {}),
        ...(options.env !== undefined ? { env: options.env } : {}),
      });
      if (mp4.written) {
        staged.push(mp4.staged);
        files.push({ format: "mp4", file, bytes: mp4.bytes });
        notes.push(...mp4.notes);
      } else {
        const others = formats.filter((f) => f !== "mp4");
        notes.push(
          others.length > 0
            ? `mp4 was skipped: ${mp4.note}; written instead: ${others.join(", ")} (install ffmpeg for mp4)`
            : `mp4 was skipped: ${mp4.note}, and no other picture format was asked for (install ffmpeg for mp4)`,
        );
      }
    }
    return { staged, files, notes };
  } catch (error) {
    await discardStaged(staged);
    throw error;
  }
}

/**
 * Writes a decoded video (or image) in the formats asked for into `outDir` (created when missing): every file
 * complete under a temporary name first, then all renamed. Returns the files written and the notes.
 */
export async function writeMedia(outDir: string, video: VideoTensor | RgbVideo, options: MediaOptions): Promise<MediaResult> {
  const dir = resolve(outDir);
  await mkdir(dir, { recursive: true });
  const { staged, files, notes } = await stageMedia(dir, video, options);
  try {
    await commitStaged(staged);
  } catch (error) {
    await discardStaged(staged);
    throw error;
  }
  return { files, notes };
}
