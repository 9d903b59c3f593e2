/**
 * Seeded random checkpoints: every tensor a family's model reads, by its official name and shape
 * (`family.weights(hyper)`), filled from the generator (generator.ts) with the initialisation of its kind
 * (init.ts). This is the definition the native runtime's `checkpoint: random` follows, so a run on random
 * weights and a run on a file written here from the same seed load the same values.
 */
import type { Hyper, ModelFamily, WeightInfo } from "../compiler/models/types.js";
import { encodeF32, STORAGE_DTYPES, type StorageDtype } from "./dtype.js";
import { fillNormals, tensorKey } from "./generator.js";
import { applyInit, initFor } from "./init.js";
import { elementCount } from "./safetensors.js";
import { writeSafetensors } from "./safetensors-write.js";

/** The generator's version, recorded in the file: a change to the values must change this name. */
export const GENERATOR = "opendit-random-v1";

/** One tensor's random values in fp32 (what the native side fills before converting to its storage type). */
export function randomTensor(seed: number, name: string, shape: readonly number[]): Float32Array {
  const init = initFor(name, shape);
  const values = new Float32Array(elementCount(shape));
  fillNormals(tensorKey(seed, name), values, (z) => applyInit(init, z));
  return values;
}

export interface RandomCheckpoint {
  readonly family: ModelFamily;
  readonly hyper: Hyper;
  readonly seed: number;
  readonly dtype: StorageDtype;
  /** How the size was named, recorded in the metadata: a variant, or the explicit hyperparameters as JSON. */
  readonly size: { readonly variant: string } | { readonly hyper: string };
}

export interface WrittenCheckpoint {
  readonly tensors: readonly WeightInfo[];
  readonly parameters: number;
  /** Size of the file written. */
  readonly bytes: number;
}

/** The header metadata of a random checkpoint: enough to say where it came from and to make it again. */
export function randomMetadata(c: RandomCheckpoint): Record<string, string> {
  return {
    // Hugging Face's loaders expect the framework key; the tensors are laid out as PyTorch's would be.
    format: "pt",
    "opendit.generator": GENERATOR,
    "opendit.family": c.family.family,
    ...("variant" in c.size ? { "opendit.variant": c.size.variant } : { "opendit.hyper": c.size.hyper }),
    "opendit.seed": String(c.seed),
  };
}

/** Writes the checkpoint atomically, tensor by tensor (so a real-size one never sits in memory whole). */
export async function writeRandomCheckpoint(path: string, c: RandomCheckpoint): Promise<WrittenCheckpoint> {
  const tensors = c.family.weights(c.hyper);
  const dtype = STORAGE_DTYPES[c.dtype];
  const shapes = new Map(tensors.map((t) => [t.name, t.shape]));
  const bytes = await writeSafetensors(
    path,
    tensors.map((t) => ({ name: t.name, dtype, shape: t.shape })),
    (t) => encodeF32(randomTensor(c.seed, t.name, shapes.get(t.name)!), c.dtype),
    randomMetadata(c),
  );
  return { tensors, parameters: tensors.reduce((n, t) => n + elementCount(t.shape), 0), bytes };
}
