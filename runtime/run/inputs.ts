/**
 * The run's inputs for the native runtime (NativeInputs, runtime/native/addon.ts), from the pipeline's Spec and
 * its Plan: the initial noise (the `noise` file, or the seed), the text features (the `conditioning.embeddings`
 * file, one sample replicated to every sample), the token mask and the class labels. runtime/reference/inputs.ts
 * says how each fills the plan's input buffers; this file only gathers the values and checks them against the
 * shapes the plan reads, so a wrong file is reported here, by file, tensor and shape, before a native run starts.
 */
import { isAbsolute, resolve } from "node:path";
import { fillNormals, tensorKey } from "../../checkpoint/generator.js";
import { elementCount, openSafetensors, SafetensorsError, type SafetensorsReader, type TensorEntry } from "../../checkpoint/safetensors.js";
import type { SafetensorsDtype } from "../../checkpoint/dtype.js";
import { familyInfo } from "../../compiler/models/registry.js";
import type { Plan, PlanInput } from "../../compiler/plan/types.js";
import type { Spec } from "../../compiler/spec/schema.js";
import type { NativeInputs } from "../native/addon.js";
import { messageOf, RunError } from "./errors.js";

/** Dtypes a float input (noise, text features) may be stored in; each converts to fp32 exactly or by rounding. */
const FLOAT_DTYPES: readonly SafetensorsDtype[] = ["F32", "F16", "BF16", "F64"];
/** Dtypes a token mask may be stored in (the schema asks for int32; the others hold 0 and 1 just as well). */
const MASK_DTYPES: readonly SafetensorsDtype[] = ["I32", "I64", "I16", "I8", "U8", "BOOL"];

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * The initial latent of `samples` samples, [samples, ...latentShape] with latentShape [C, T, H, W]: sample g is
 * the standard normals of the stream key(seed, "latent/<g>"), row-major, each rounded to fp32. This is the rule
 * the native runtime draws by when it is given only `noiseSeed` (native/src/runtime/inputs.h), so the two agree
 * bit for bit and a sample's noise does not depend on how many samples the run has.
 */
export function initialNoise(seed: number, samples: number, latentShape: readonly number[]): Float32Array {
  const perSample = elementCount(latentShape);
  const out = new Float32Array(samples * perSample);
  for (let g = 0; g < samples; g++) {
    fillNormals(tensorKey(seed, `latent/${g}`), out.subarray(g * perSample, (g + 1) * perSample), (z) => z);
  }
  return out;
}

/** The row shape (everything after the sample axis) of the buffer the plan's `source` input fills, if it has one. */
export function inputRowShape(plan: Plan, source: PlanInput["source"]): readonly number[] | undefined {
  const input = plan.inputs.find((i) => i.source === source);
  if (!input) return undefined;
  const buffer = plan.buffers.find((b) => b.name === input.buffer);
  if (!buffer) throw new RunError(`the plan's ${source} input names buffer \`${input.buffer}\`, which the plan does not have`);
  return buffer.shape.slice(1);
}

/** Whether the plan reads the negative prompt's features: text on the unconditional rows (runtime/reference/inputs.ts). */
export function needsNegativeText(plan: Plan): boolean {
  return plan.inputs.some((i) => i.source === "text" && (i.cfgRank === 1 || i.rows.first > 0));
}

/** A path of the pipeline file, resolved against the pipeline's directory. */
export function pipelinePath(baseDir: string, path: string): string {
  return isAbsolute(path) ? path : resolve(baseDir, path);
}

/** An input file, open, with its role for messages (`conditioning.embeddings` file /abs/path). */
interface InputFile {
  readonly what: string;
  readonly reader: SafetensorsReader;
}

async function openInputFile(field: string, path: string): Promise<InputFile> {
  const what = `${field} file ${path}`;
  try {
    return { what, reader: await openSafetensors(path) };
  } catch (error) {
    if (error instanceof SafetensorsError) throw new RunError(`${what} is not a valid safetensors file: ${error.message}`);
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "it does not exist" : code === "EISDIR" ? "it is a directory" : messageOf(error);
    throw new RunError(`cannot read the ${what}: ${reason}`);
  }
}

function entryOf(file: InputFile, name: string): TensorEntry | undefined {
  return file.reader.header.tensors.find((t) => t.name === name);
}

/** A tensor that must be there, in one of `dtypes`; its values as fp32. */
async function readTensor(file: InputFile, name: string, dtypes: readonly SafetensorsDtype[], needed: string): Promise<{ entry: TensorEntry; values: Float32Array }> {
  const entry = entryOf(file, name);
  if (!entry) {
    const present = file.reader.header.tensors.map((t) => `\`${t.name}\` ${shapeText(t.shape)}`).join(", ") || "none";
    throw new RunError(`${file.what} has no tensor \`${name}\` (${needed}); its tensors: ${present}`);
  }
  if (!dtypes.includes(entry.dtype)) {
    throw new RunError(`${file.what}: tensor \`${name}\` has dtype ${entry.dtype}; it must be ${dtypes.join(", ")}`);
  }
  try {
    return { entry, values: await file.reader.readF32(name) };
  } catch (error) {
    throw new RunError(`${file.what}: tensor \`${name}\` could not be read: ${messageOf(error)}`);
  }
}

function allFinite(values: Float32Array): boolean {
  for (const v of values) if (!Number.isFinite(v)) return false;
  return true;
}

/** `copies` copies of one sample's values, back to back: the embeddings file holds one sample for every prompt. */
function replicate(values: Float32Array, copies: number): Float32Array {
  const out = new Float32Array(values.length * copies);
  for (let s = 0; s < copies; s++) out.set(values, s * values.length);
  return out;
}

/**
 * The initial latent from the Spec's `noise` file: tensor `noise` of shape [samples, C, T, H, W], or
 * [samples, C, H, W] for an image family (whose T is 1), in the plan's latent geometry.
 */
async function noiseFromFile(plan: Plan, path: string): Promise<Float32Array> {
  const { channels, frames, height, width } = plan.geometry.latent;
  const samples = plan.geometry.samples;
  const video = [samples, channels, frames, height, width];
  const image = familyInfo(plan.model.family)?.kind === "image" ? [samples, channels, height, width] : undefined;
  const expected = image ? `${shapeText(image)} (or ${shapeText(video)})` : shapeText(video);
  const file = await openInputFile("`noise`", path);
  try {
    const { entry, values } = await readTensor(file, "noise", FLOAT_DTYPES, `the initial latent ${expected}`);
    if (!sameShape(entry.shape, video) && !(image && sameShape(entry.shape, image))) {
      throw new RunError(
        `${file.what}: tensor \`noise\` has shape ${shapeText(entry.shape)}, but this plan's initial latent is ${expected}: ` +
          `${samples} ${samples === 1 ? "sample" : "samples"} of ${channels} channels` +
          `${image ? "" : `, ${frames} latent frames`}, ${height}x${width}`,
      );
    }
    if (!allFinite(values)) throw new RunError(`${file.what}: tensor \`noise\` holds values that are not finite (NaN or infinity)`);
    return values;
  } finally {
    await file.reader.close();
  }
}

/** The shapes the embeddings file must have for this plan, as the message that asks for them says them. */
function embeddingsWanted(plan: Plan): { row: readonly number[]; tokens: number; channels: number; text: string } | undefined {
  const row = inputRowShape(plan, "text");
  if (!row) return undefined;
  const [tokens = 0, channels = 0] = row;
  const negative = needsNegativeText(plan) ? ` and the negative prompt's \`negative_y\` [1, ${tokens}, ${channels}]` : "";
  return {
    row,
    tokens,
    channels,
    text: `\`y\` [1, ${tokens}, ${channels}] float32 and \`mask\` [1, ${tokens}] int32${negative} (this plan reads ${tokens} text tokens of ${channels} caption channels)`,
  };
}

/** The text side of the inputs: features (and negative features) from the embeddings file, and its mask. */
async function textInputs(spec: Spec, plan: Plan, baseDir: string): Promise<Pick<NativeInputs, "text" | "negativeText" | "textMask">> {
  const wanted = embeddingsWanted(plan);
  const maskRow = inputRowShape(plan, "text-mask");
  if (!wanted && !maskRow) return {};
  const cond = spec.conditioning;
  if (cond?.embeddings === undefined) {
    const encoder = cond?.text_encoder ?? "t5-v1_1-xxl";
    const from = cond?.prompts !== undefined ? `The pipeline gives prompts to encode with \`${encoder}\`, but this` : "This";
    throw new RunError(
      `${from} runtime has no text encoder yet: precompute the prompt features and name them in \`conditioning.embeddings\`, ` +
        `a safetensors file (relative to the pipeline file) with ${wanted?.text ?? `\`mask\` ${shapeText([1, ...(maskRow ?? [])])} int32`}`,
    );
  }
  const samples = plan.geometry.samples;
  const file = await openInputFile("`conditioning.embeddings`", pipelinePath(baseDir, cond.embeddings));
  try {
    const out: { text?: Float32Array; negativeText?: Float32Array; textMask?: Float32Array } = {};
    const features = async (name: string, what: string): Promise<Float32Array> => {
      const { entry, values } = await readTensor(file, name, FLOAT_DTYPES, `${what}, [1, ${wanted!.tokens}, ${wanted!.channels}]`);
      const expected = [1, ...wanted!.row];
      if (!sameShape(entry.shape, expected)) {
        throw new RunError(
          `${file.what}: tensor \`${name}\` has shape ${shapeText(entry.shape)}, but this plan reads ${shapeText(expected)}: ` +
            `one sample of ${wanted!.tokens} text tokens of ${wanted!.channels} caption channels`,
        );
      }
      if (!allFinite(values)) throw new RunError(`${file.what}: tensor \`${name}\` holds values that are not finite (NaN or infinity)`);
      return replicate(values, samples);
    };
    if (wanted) {
      out.text = await features("y", "the prompt's features");
      if (needsNegativeText(plan)) out.negativeText = await features("negative_y", "the negative prompt's features, which guidance steers against");
    }
    if (maskRow) {
      const expected = [1, ...maskRow];
      const { entry, values } = await readTensor(file, "mask", MASK_DTYPES, `the token mask ${shapeText(expected)}, 1 for a real token`);
      if (!sameShape(entry.shape, expected)) {
        throw new RunError(`${file.what}: tensor \`mask\` has shape ${shapeText(entry.shape)}, but this plan reads ${shapeText(expected)}: one sample of ${maskRow[0] ?? 0} text tokens`);
      }
      const bad = values.findIndex((v) => v !== 0 && v !== 1);
      if (bad >= 0) throw new RunError(`${file.what}: tensor \`mask\` holds ${values[bad]} at token ${bad}; a mask holds 1 for a real token and 0 for padding`);
      out.textMask = replicate(values, samples);
    }
    return out;
  } finally {
    await file.reader.close();
  }
}

/** The class labels, one per sample. */
function labelInputs(spec: Spec, plan: Plan): Int32Array | undefined {
  if (!plan.inputs.some((i) => i.source === "labels")) return undefined;
  const labels = spec.conditioning?.labels;
  const samples = plan.geometry.samples;
  if (!labels) throw new RunError(`this plan reads class labels, but the pipeline has no \`conditioning.labels\`: give one per sample, such as \`labels: [207]\``);
  if (labels.length !== samples) throw new RunError(`\`conditioning.labels\` holds ${labels.length} labels, but the plan runs ${samples} samples`);
  return Int32Array.from(labels);
}

/**
 * The NativeInputs of a run of `plan`, compiled from `spec`; `baseDir` is the pipeline file's directory, which
 * the input files' paths are relative to. Throws RunError naming the file, tensor and shapes when an input file
 * does not fit the plan, or when the plan needs text and the pipeline gives only prompts.
 */
export async function runInputs(spec: Spec, plan: Plan, baseDir: string): Promise<NativeInputs> {
  const noise = spec.noise !== undefined ? await noiseFromFile(plan, pipelinePath(baseDir, spec.noise)) : undefined;
  const text = await textInputs(spec, plan, baseDir);
  const labels = labelInputs(spec, plan);
  return {
    ...(noise ? { noise } : { noiseSeed: spec.seed ?? 0 }),
    ...text,
    ...(labels ? { labels } : {}),
  };
}
