/**
 * The pictures of `opendit run`: what its output formats ask beyond `latents` (png, gif, mp4), written next to
 * latents.safetensors and committed with it and run.json (runtime/run/outputs.ts). Two sources:
 *
 * - stageDecodedMedia: the VAE decode (the native run's `video` output [B, 3, F, H, W] in [−1, 1],
 *   runtime/native/addon.ts; an image family's F is 1), as per-sample 8-bit RGB videos (decodedRgbVideos): the
 *   one-rank run converts its own `video` output, a parallel run's decoding ranks send theirs converted and the
 *   launcher puts the samples together (runtime/launch/publish.ts). Files: `sample.*`, or `sample-<b>.*` for
 *   several samples.
 * - stagePreviewMedia: without a decode (a VAE the native runtime does not decode, a run whose plan has no
 *   decode), the linear latent preview (preview.ts) of the final latents. Files: `preview.*`, or
 *   `preview-<b>.*`; run.json and the CLI say "preview (linear latent approximation), not a VAE decode". Where
 *   the VAE has no linear preview, no picture is written and a note says why.
 *
 * Frame rate: `video.fps`, else the rate the family's reference saves at (models.md §4: Open-Sora 1.0's
 * `fps = 24 // 3` = 8, also Latte's; §5: Open-Sora 1.2's 24).
 */
import { familyInfo } from "../../compiler/models/registry.js";
import { latentSpaceVae } from "../../compiler/models/vae/latent-preview.js";
import type { Spec, VaeKind } from "../../compiler/spec/schema.js";
import { MEDIA_FORMATS, pixelByte, stageMedia, type MediaFormat, type RgbVideo, type VideoTensor, type WrittenMedia } from "./frames.js";
import { latentPreview, latentRgbMap } from "./preview.js";
import { discardStaged, type StagedFile } from "./staging.js";

/** What run.json and the CLI call the preview. */
export const PREVIEW_DESCRIPTION = "preview (linear latent approximation), not a VAE decode";

/** The pictures a run wrote, for run.json. */
export interface RunMedia {
  /** `vae`: decoded by the VAE; `preview`: the linear latent preview; `none`: nothing could be written. */
  readonly source: "vae" | "preview" | "none";
  readonly description: string;
  /** The frame rate of the gif and mp4 files. */
  readonly fps: number;
  /** The files, each with its sample (0-based). */
  readonly files: readonly (WrittenMedia & { readonly sample: number })[];
  readonly notes: readonly string[];
}

/** Staged pictures (renamed by the caller with the run's other files) and their record. */
export interface RunMediaStage {
  readonly staged: readonly StagedFile[];
  readonly media: RunMedia;
}

/** Where and how the run's pictures are written. */
export interface RunMediaOptions {
  readonly formats: readonly string[];
  readonly fps: number;
  /** Looked up for ffmpeg (the run's environment). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** The frame rate of the family's reference outputs, when the Spec gives none. */
const DEFAULT_FPS = 8;
const STDIT3_FPS = 24;

/** The picture formats a Spec asks for. */
export function pictureFormats(spec: Spec): MediaFormat[] {
  const formats = spec.output?.formats ?? ["latents"];
  return MEDIA_FORMATS.filter((f) => formats.includes(f));
}

/** The VAE a Spec decodes with: its own, else the family's default. */
export function vaeOf(spec: Spec): VaeKind {
  return spec.vae?.kind ?? familyInfo(spec.model.family)?.defaults.vae ?? "none";
}

/**
 * The VAE whose latent space the latents are in, for the linear preview: the Spec's or the family's, and with
 * `vae: none` (latents only) the family's default, which the model was trained against.
 */
export function latentSpaceVaeOf(spec: Spec): VaeKind {
  return latentSpaceVae(vaeOf(spec), familyInfo(spec.model.family)?.defaults.vae ?? "none");
}

/** The frame rate of the written video: `video.fps`, else the family's reference rate. */
export function outputFps(spec: Spec): number {
  return spec.video?.fps ?? (spec.model.family === "stdit3" ? STDIT3_FPS : DEFAULT_FPS);
}

/** Sample b's base name: `<base>` for a run of one sample, else `<base>-<b>`. */
function sampleName(base: string, b: number, samples: number): string {
  return samples === 1 ? base : `${base}-${b}`;
}

/** Stages each sample's video in turn; on failure nothing staged is left. */
async function stageSamples(dir: string, samples: readonly (VideoTensor | RgbVideo)[], base: string, options: RunMediaOptions): Promise<{ staged: StagedFile[]; files: RunMedia["files"]; notes: string[] }> {
  const staged: StagedFile[] = [];
  const files: (WrittenMedia & { sample: number })[] = [];
  const notes: string[] = [];
  try {
    for (let b = 0; b < samples.length; b++) {
      const one = await stageMedia(dir, samples[b]!, { formats: options.formats, fps: options.fps, name: sampleName(base, b, samples.length), ...(options.env ? { env: options.env } : {}) });
      staged.push(...one.staged);
      files.push(...one.files.map((f) => ({ ...f, sample: b })));
      for (const n of one.notes) if (!notes.includes(n)) notes.push(n);
    }
  } catch (error) {
    await discardStaged(staged);
    throw error;
  }
  return { staged, files, notes };
}

/** A batched tensor [B, ...rest] split into its samples (views, not copies). */
function splitSamples(shape: readonly number[], data: Float32Array): { shape: number[]; data: Float32Array }[] {
  const [batch, ...rest] = shape;
  const size = rest.reduce((a, b) => a * b, 1);
  if (batch === undefined || data.length !== batch * size) throw new RangeError(`a batched tensor [${shape.join(", ")}] has ${batch === undefined ? 0 : batch * size} values, not ${data.length}`);
  return Array.from({ length: batch }, (_, b) => ({ shape: rest, data: data.subarray(b * size, (b + 1) * size) }));
}

/** The VAE's decoded tensor as the native run returns it: [B, 3, F, H, W], values in [−1, 1]. */
export interface DecodedTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/**
 * The decoded video [B, 3, F, H, W] (values in [−1, 1]) as 8-bit RGB, one RgbVideo per sample, each value
 * rounded by frames.ts's pixelByte (so the files are those the float tensor gives through stageMedia). `image`
 * for an image family: F must be 1 and each sample is a single picture. The one route from a decode to files:
 * the one-rank run converts its `video` output with it, and a parallel run's decoding rank sends its result so
 * (a quarter of the fp32 tensor's bytes; runtime/launch/rank.ts).
 */
export function decodedRgbVideos(decoded: DecodedTensor, image: boolean): RgbVideo[] {
  const { shape, data } = decoded;
  const [batch, channels, frames, height, width] = shape;
  if (shape.length !== 5 || channels !== 3 || !shape.every((d) => Number.isSafeInteger(d) && d >= 1)) {
    throw new RangeError(`a decoded video is [B, 3, F, H, W], not [${shape.join(", ")}]`);
  }
  if (image && frames !== 1) throw new RangeError(`a decoded image is [B, 3, 1, H, W], not [${shape.join(", ")}]`);
  const plane = height! * width!;
  if (data.length !== batch! * 3 * frames! * plane) throw new RangeError(`a decoded video [${shape.join(", ")}] has ${batch! * 3 * frames! * plane} values, not ${data.length}`);
  const videos: RgbVideo[] = [];
  for (let b = 0; b < batch!; b++) {
    const rgbFrames: Uint8Array[] = [];
    for (let f = 0; f < frames!; f++) {
      const rgb = new Uint8Array(plane * 3);
      for (let c = 0; c < 3; c++) {
        // Sample b's channel c of frame f: plane ((b · 3 + c) · F + f).
        const src = ((b * 3 + c) * frames! + f) * plane;
        for (let i = 0; i < plane; i++) rgb[3 * i + c] = pixelByte(data[src + i]!);
      }
      rgbFrames.push(rgb);
    }
    videos.push({ frames: rgbFrames, width: width!, height: height!, image });
  }
  return videos;
}

/** Whether the Spec's family makes images (its decode is [B, 3, 1, H, W], written as single pictures). */
export function makesImages(spec: Spec): boolean {
  return familyInfo(spec.model.family)?.kind === "image";
}

/**
 * The entry point for a decoded result: writes the VAE's decode in the formats asked for, staged in `dir`, as
 * `sample.*` (`sample-<b>.*` for several samples). `decoded` is the per-sample RGB videos (decodedRgbVideos, or
 * a parallel run's samples put together from its decoding ranks), or the tensor [B, 3, F, H, W] itself, which is
 * converted by decodedRgbVideos (`image` for an image family, whose F is 1 and whose files are single pictures).
 */
export async function stageDecodedMedia(
  dir: string,
  decoded: DecodedTensor | readonly RgbVideo[],
  vae: VaeKind,
  image: boolean,
  options: RunMediaOptions,
): Promise<RunMediaStage> {
  const samples = isRgbVideos(decoded) ? decoded : decodedRgbVideos(decoded, image);
  const { staged, files, notes } = await stageSamples(dir, samples, "sample", options);
  return { staged, media: { source: "vae", description: `VAE decode (${vae})`, fps: options.fps, files, notes } };
}

function isRgbVideos(decoded: DecodedTensor | readonly RgbVideo[]): decoded is readonly RgbVideo[] {
  return Array.isArray(decoded);
}

/**
 * Without a decode: the linear preview of the final latents ([B, C, T, H, W] for video, [B, C, H, W] for images),
 * staged in `dir`. `frames` is the video's frame count F: a VAE that compresses time has fewer latent frames T,
 * and the preview, one frame per latent frame, plays at fps · T / F to keep the video's duration.
 */
export async function stagePreviewMedia(
  dir: string,
  latents: { readonly shape: readonly number[]; readonly data: Float32Array },
  vae: VaeKind,
  frames: number | undefined,
  options: RunMediaOptions,
): Promise<RunMediaStage> {
  const map = latentRgbMap(vae);
  const channels = latents.shape[1];
  const none = (why: string): RunMediaStage => ({ staged: [], media: { source: "none", description: "no pictures", fps: options.fps, files: [], notes: [why] } });
  const asked = MEDIA_FORMATS.filter((f) => options.formats.includes(f)).join(", ");
  if (!map) return none(`${asked} not written: the run has no VAE decode, and ${vae} latents have no linear preview; only the latents are written`);
  if (channels !== map.factors.length) return none(`${asked} not written: the run has no VAE decode, and the linear preview needs ${map.factors.length} latent channels, not ${channels}`);
  const video = latents.shape.length === 5;
  const latentFrames = video ? latents.shape[2]! : 1;
  const notes: string[] = [];
  let fps = options.fps;
  if (video && frames !== undefined && frames !== latentFrames) {
    fps = (options.fps * latentFrames) / frames;
    notes.push(`the preview has ${latentFrames} frames, one per latent frame of the ${frames}-frame video (${vae} compresses time), played at ${Number(fps.toFixed(3))} fps to keep its duration`);
  }
  const samples = splitSamples(latents.shape, latents.data).map((s) => latentPreview(s, { map }));
  const staged = await stageSamples(dir, samples, "preview", { ...options, fps });
  return { staged: staged.staged, media: { source: "preview", description: PREVIEW_DESCRIPTION, fps, files: staged.files, notes: [...notes, ...staged.notes] } };
}

/**
 * The run's pictures: undefined when the Spec asks for none; else a function staging them in a directory. From
 * `decoded`, the VAE's decode, where the run has one: its samples as RGB videos in sample order
 * (decodedRgbVideos; a parallel run's put together from its decoding ranks, runtime/launch/publish.ts), or the
 * tensor [B, 3, F, H, W] itself (converted the same way); otherwise the latent preview of the output `latents`.
 */
export function runMediaWriter(
  spec: Spec,
  tensors: readonly { readonly name: string; readonly shape: readonly number[]; readonly data: Float32Array }[],
  env?: Readonly<Record<string, string | undefined>>,
  decoded?: readonly RgbVideo[] | DecodedTensor,
): ((dir: string) => Promise<RunMediaStage>) | undefined {
  const formats = pictureFormats(spec);
  if (formats.length === 0) return undefined;
  const latents = tensors.find((t) => t.name === "latents");
  const options: RunMediaOptions = { formats, fps: outputFps(spec), ...(env ? { env } : {}) };
  if (decoded) return (dir) => stageDecodedMedia(dir, decoded, vaeOf(spec), makesImages(spec), options);
  if (!latents) {
    return async () => ({ staged: [], media: { source: "none", description: "no pictures", fps: options.fps, files: [], notes: [`${formats.join(", ")} not written: the run has no output \`latents\``] } });
  }
  return (dir) => stagePreviewMedia(dir, latents, latentSpaceVaeOf(spec), spec.video?.frames, options);
}
