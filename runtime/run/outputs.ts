/**
 * Writing a run's results into its output directory: one safetensors file per plan output (`latents` →
 * latents.safetensors, tensor `latents`, F32), the pictures the pipeline asks for (runtime/media/, staged by the
 * caller's `media` function) and the run's record, run.json. Either every file of the run
 * appears or none does: each is first written complete under a hidden temporary name in the directory (the
 * safetensors writer itself writes, syncs and renames), and only when all are written are they renamed to
 * their names; on any failure the temporary files are removed, and so is a directory this run created.
 */
import { randomBytes } from "node:crypto";
import { mkdir, rename, rm, rmdir } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { encodeF32 } from "../../checkpoint/dtype.js";
import { elementCount } from "../../checkpoint/safetensors.js";
import { writeSafetensors } from "../../checkpoint/safetensors-write.js";
import { writeFileAtomic } from "../../cli/write-atomic.js";
import { familyInfo } from "../../compiler/models/registry.js";
import type { Plan } from "../../compiler/plan/types.js";
import { FfmpegError } from "../media/mp4.js";
import type { StagedFile } from "../media/staging.js";
import type { NativeTensor } from "../native/addon.js";
import { RunError } from "./errors.js";

/** The name of the run's record in the output directory. */
export const RUN_RECORD_FILE = "run.json";

/**
 * One plan output as it is stored: the native run's tensor, with the shape it is stored in (an image family's
 * latent without T), and its file.
 */
export interface OutputTensor extends NativeTensor {
  /** The file's name inside the output directory. */
  readonly file: string;
}

/** What was written, for the record and the summary: an output without its values, and the file's dtype and size. */
export interface WrittenOutput extends Omit<OutputTensor, "data"> {
  readonly dtype: "F32";
  readonly bytes: number;
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/**
 * The native run's outputs as they are stored: every output the plan names, each with the shape of its plan
 * buffer ([B, C, T, H, W]), an image family's latent squeezed to [B, C, H, W] (its T is 1). A missing output or
 * a size that is not the buffer's is a RunError: the native runtime broke its contract.
 */
export function outputTensors(plan: Plan, outputs: readonly NativeTensor[]): OutputTensor[] {
  const image = familyInfo(plan.model.family)?.kind === "image";
  return plan.outputs.map((o) => {
    const tensor = outputs.find((t) => t.name === o.name);
    const buffer = plan.buffers.find((b) => b.name === o.buffer);
    if (!tensor) throw new RunError(`the native run returned no output \`${o.name}\` (returned: ${outputs.map((t) => `\`${t.name}\``).join(", ") || "none"})`);
    if (!buffer) throw new RunError(`the plan's output \`${o.name}\` names buffer \`${o.buffer}\`, which the plan does not have`);
    const count = elementCount(buffer.shape);
    if (tensor.data.length !== count) {
      throw new RunError(`the native run returned ${tensor.data.length} values for output \`${o.name}\`, but its buffer \`${o.buffer}\` is ${shapeText(buffer.shape)} (${count} values)`);
    }
    const squeeze = image && buffer.shape.length === 5 && buffer.shape[2] === 1;
    const shape = squeeze ? [...buffer.shape.slice(0, 2), ...buffer.shape.slice(3)] : [...buffer.shape];
    return { name: o.name, file: `${o.name}.safetensors`, shape, data: tensor.data };
  });
}

/** The header metadata of an output file: which plan, pipeline and opendit made it. */
export interface OutputMetadata {
  readonly planHash: string;
  readonly pipeline: string;
  readonly version: string;
}

/** A hidden temporary name next to `path`, unique to this process and call. */
function stagingPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.partial`);
}

/** Creates `dir` and its missing parents; returns the directories created, deepest first (to undo on failure). */
async function makeDirectory(dir: string): Promise<string[]> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return [];
  const created: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    created.push(d);
    if (d === first || dirname(d) === d) break;
  }
  return created;
}

/**
 * Writes the outputs and then run.json into `dir` (created when missing), all or nothing. `media`, when given,
 * stages more files in the directory after the tensors (the pictures: runtime/media/run-media.ts), complete
 * under temporary names; they take their names with the rest. `record` makes run.json's text from what was
 * written and the seconds the output files (pictures included) took. Returns what was written.
 */
export async function writeRunOutputs(
  dir: string,
  tensors: readonly OutputTensor[],
  metadata: OutputMetadata,
  record: (written: readonly WrittenOutput[], writeSeconds: number) => string,
  media?: (dir: string) => Promise<readonly StagedFile[]>,
): Promise<WrittenOutput[]> {
  const target = resolve(dir);
  const staged: { readonly from: string; readonly to: string }[] = [];
  let created: string[] = [];
  try {
    created = await makeDirectory(target);
    const started = performance.now();
    const written: WrittenOutput[] = [];
    const header = { format: "pt", "opendit.plan": metadata.planHash, "opendit.pipeline": metadata.pipeline, "opendit.version": metadata.version };
    for (const t of tensors) {
      const to = join(target, t.file);
      const from = stagingPath(to);
      staged.push({ from, to });
      const bytes = await writeSafetensors(from, [{ name: t.name, dtype: "F32", shape: t.shape }], () => encodeF32(t.data, "fp32"), header);
      written.push({ name: t.name, file: t.file, shape: t.shape, dtype: "F32", bytes });
    }
    if (media) staged.push(...(await media(target)));
    const writeSeconds = (performance.now() - started) / 1000;
    const recordPath = join(target, RUN_RECORD_FILE);
    const recordStage = stagingPath(recordPath);
    staged.push({ from: recordStage, to: recordPath });
    await writeFileAtomic(recordStage, record(written, writeSeconds));
    // Every file is complete: now they take their names, the record last, so a run.json always describes files present.
    for (const s of staged) await rename(s.from, s.to);
    return written;
  } catch (error) {
    await Promise.all(staged.map((s) => rm(s.from, { force: true })));
    for (const d of created) await rmdir(d).catch(() => undefined);
    if (error instanceof FfmpegError) throw new RunError(`cannot write the outputs into ${target}: ${error.message}`);
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== undefined) throw new RunError(`cannot write the outputs into ${target}: ${(error as Error).message}`);
    throw error;
  }
}
