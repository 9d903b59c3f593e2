/**
 * Where a run's weights come from (NativeWeights, runtime/native/addon.ts): `checkpoint: random` is drawn by
 * the native runtime from `model.weights_seed`, exactly as `opendit checkpoint random` writes it; a path names a
 * safetensors file, relative to the pipeline file. The native loader checks every tensor against the plan and
 * refuses anything the model does not read, except the family's skipped tensors (fixed tables it recomputes).
 */
import { statSync } from "node:fs";
import { familyInfo } from "../../compiler/models/registry.js";
import type { Plan } from "../../compiler/plan/types.js";
import type { NativeWeights } from "../native/addon.js";
import { RunError } from "./errors.js";
import { pipelinePath } from "./inputs.js";

/** The value of `model.checkpoint` that asks for seeded random weights. */
export const RANDOM_CHECKPOINT = "random";

/** The weights of a run of `plan`; `baseDir` is the pipeline file's directory. Throws RunError when the file is missing. */
export function runWeights(plan: Plan, baseDir: string): NativeWeights {
  const { checkpoint, weightsSeed, family } = plan.model;
  if (checkpoint === RANDOM_CHECKPOINT) return { kind: "random", seed: weightsSeed };
  const path = pipelinePath(baseDir, checkpoint);
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch {
    throw new RunError(`the checkpoint \`${checkpoint}\` does not exist (looked for ${path}); write one with \`opendit checkpoint random\`, or set \`model.checkpoint: random\``);
  }
  if (!isFile) throw new RunError(`the checkpoint \`${checkpoint}\` (${path}) is not a file`);
  return { kind: "file", path, ignore: [...(familyInfo(family)?.skippedTensors ?? [])] };
}
