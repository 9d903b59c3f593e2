/**
 * Previews during a run (`output.preview_every: N`, `opendit run --preview-every N`): after every N-th step the
 * native run hands over the running latent (runtime/native/addon.ts NativeProgress.latent; in a parallel run the
 * ranks holding the samples send theirs through the store and the launcher puts them together,
 * runtime/launch/previews.ts), and this writes its linear latent preview (preview.ts) into `<out>/previews/`:
 * `step-<k>.png` for an image family, `step-<k>.gif` for a video (one frame per latent frame, at the frame rate
 * the final preview plays at), `step-<k>-<b>.*` for sample b of several; k counts the steps run, from 1.
 *
 * Each file is written complete under a hidden temporary name and then renamed (frames.ts writeMedia), so nothing
 * half-written ever carries a preview's name. The previews are encoded on the JS main thread in step order, one at
 * a time, while the native run goes on; the run's outputs are written after the last of them. The run's first
 * preview removes the previews an earlier run left in the directory (files named `step-<k>[-<b>].png|gif`), so it
 * shows one run's. A preview that cannot be written becomes a note (the run's warnings), not a failed run.
 */
import { readdir, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { familyInfo } from "../../compiler/models/registry.js";
import type { Plan } from "../../compiler/plan/types.js";
import type { Spec } from "../../compiler/spec/schema.js";
import type { NativeLatent } from "../native/addon.js";
import { writeMedia, type MediaFormat } from "./frames.js";
import { latentPreview, latentRgbMap } from "./preview.js";
import { latentSpaceVaeOf, outputFps } from "./run-media.js";

/** The previews' directory inside the output directory. */
export const PREVIEWS_DIR = "previews";

/** A preview's file name without its extension: `step-<k>`, or `step-<k>-<b>` for sample b of several. */
export function previewName(step: number, sample: number, samples: number): string {
  return samples === 1 ? `step-${step}` : `step-${step}-${sample}`;
}

/** What a run's preview files are named (and what a later run removes). */
const PREVIEW_FILE = /^step-\d+(-\d+)?\.(png|gif)$/;

/** One preview file written. */
export interface StepPreviewFile {
  readonly step: number;
  readonly sample: number;
  /** Its path relative to the output directory: `previews/step-4.gif`. */
  readonly file: string;
  /** Its absolute path. */
  readonly path: string;
  readonly bytes: number;
}

/** The previews of a run, once it has ended. */
export interface StepPreviews {
  readonly every: number;
  /** The previews' directory, absolute. */
  readonly dir: string;
  readonly files: readonly StepPreviewFile[];
  /** What did not go as asked: a preview that could not be written, latents that never came. */
  readonly notes: readonly string[];
}

export interface StepPreviewWriter {
  /** N: a preview after steps N, 2N, … */
  readonly every: number;
  /** The previews' directory, absolute. */
  readonly dir: string;
  /**
   * Queues the preview of the latent after `step` steps: the output `latents` as the native run reads it,
   * [samples, C, T, H, W] (the plan buffer's shape, every sample of the run). Returns at once.
   */
  add(step: number, latent: NativeLatent): void;
  /** Waits for every queued preview; `stepsRun` says how many previews should have come (a note when fewer did). */
  finish(stepsRun: number): Promise<StepPreviews>;
}

/** Where and how a run's previews are written. */
export interface StepPreviewOptions {
  /** Called after each preview's files are written (the CLI shows where). */
  readonly onWritten?: (step: number, files: readonly StepPreviewFile[]) => void;
}

/** The samples of a latent [B, C, T, H, W] as preview.ts reads them: [C, T, H, W], or an image's [C, H, W]. */
function latentSamples(latent: NativeLatent, image: boolean): { shape: number[]; data: Float32Array }[] {
  const { shape, data } = latent;
  const [batch, channels, frames, height, width] = shape;
  if (shape.length !== 5 || !shape.every((d) => Number.isSafeInteger(d) && d >= 1)) throw new RangeError(`a latent to preview is [B, C, T, H, W], not [${shape.join(", ")}]`);
  if (image && frames !== 1) throw new RangeError(`an image family's latent is [B, C, 1, H, W], not [${shape.join(", ")}]`);
  const size = channels! * frames! * height! * width!;
  if (data.length !== batch! * size) throw new RangeError(`a latent [${shape.join(", ")}] has ${batch! * size} values, not ${data.length}`);
  const rest = image ? [channels!, height!, width!] : [channels!, frames!, height!, width!];
  return Array.from({ length: batch! }, (_, b) => ({ shape: rest, data: data.subarray(b * size, (b + 1) * size) }));
}

/** Removes the preview files an earlier run left in `dir` (a missing directory has none). */
async function removeEarlierPreviews(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  await Promise.all(names.filter((n) => PREVIEW_FILE.test(n)).map((n) => rm(join(dir, n), { force: true })));
}

/** The reason of a failure, for a note. */
function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The preview writer of a run into `outDir`, or undefined when the Spec asks for no previews. The checker refuses
 * `preview_every` for a VAE without a linear preview (OD3318); should one still come here, each preview is skipped
 * with a note.
 */
export function stepPreviewWriter(spec: Spec, plan: Plan, outDir: string, options: StepPreviewOptions = {}): StepPreviewWriter | undefined {
  const every = spec.output?.preview_every;
  if (every === undefined) return undefined;
  const dir = resolve(outDir, PREVIEWS_DIR);
  const image = familyInfo(plan.model.family)?.kind === "image";
  const format: MediaFormat = image ? "png" : "gif";
  const vae = latentSpaceVaeOf(spec);
  const map = latentRgbMap(vae);
  // One frame per latent frame: a VAE that compresses time plays them at fps · T / F to keep the video's duration.
  const frames = spec.video?.frames;
  const latentFrames = plan.geometry.latent.frames;
  const fps = !image && frames !== undefined && frames !== latentFrames ? (outputFps(spec) * latentFrames) / frames : outputFps(spec);

  const files: StepPreviewFile[] = [];
  const notes: string[] = [];
  const note = (text: string): void => {
    if (!notes.includes(text)) notes.push(text);
  };
  let received = 0;
  let queue: Promise<void> = Promise.resolve();
  let cleared = false;

  const write = async (step: number, latent: NativeLatent): Promise<void> => {
    if (!map) {
      note(`no preview written during the run: ${vae} latents have no linear preview`);
      return;
    }
    if (!cleared) {
      cleared = true;
      await removeEarlierPreviews(dir);
    }
    const samples = latentSamples(latent, image);
    const written: StepPreviewFile[] = [];
    for (let b = 0; b < samples.length; b++) {
      const name = previewName(step, b, samples.length);
      const result = await writeMedia(dir, latentPreview(samples[b]!, { map }), { formats: [format], fps, name });
      for (const f of result.files) written.push({ step, sample: b, file: `${PREVIEWS_DIR}/${f.file}`, path: join(dir, f.file), bytes: f.bytes });
      for (const n of result.notes) note(`previews: ${n}`);
    }
    files.push(...written);
    options.onWritten?.(step, written);
  };

  return {
    every,
    dir,
    add(step, latent) {
      received++;
      queue = queue.then(() => write(step, latent)).catch((error: unknown) => note(`the preview after step ${step} was not written: ${reason(error)}`));
    },
    async finish(stepsRun) {
      await queue;
      const expected = Math.floor(stepsRun / every);
      if (received < expected) {
        note(
          `\`preview_every: ${every}\`: the native run handed over ${received} of the ${expected} latents of steps ${every}, ${2 * every}, …; ` +
            "an addon built before previews ignores the request: rebuild it with `npm run build:native`",
        );
      }
      return { every, dir, files: [...files], notes: [...notes] };
    },
  };
}
