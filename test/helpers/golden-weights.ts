/**
 * The weights of the golden files (test/fixtures/goldens, made by test/reference/make_goldens.py): not stored
 * there, but drawn from the project's generator (checkpoint/generator.ts, opendit-random-v1: the normals of
 * key(seed, name)) and scaled by the goldens' own rules, which keep a tiny model's activations O(1) so every op
 * moves the output (unlike `checkpoint: random`'s 0.02, which leaves the blocks' residual branches near zero):
 *
 * | tensor | value |
 * | --- | --- |
 * | `*q_norm.weight`, `*k_norm.weight` | 1 + 0.2·z |
 * | `*scale_shift_table` | 0.3·z |
 * | `*embedding_table.weight`, `*y_embedding` | z |
 * | `*.bias` | 0.2·z |
 * | any other tensor of 2 or more dimensions | z · gain / √fan_in (fan_in: the product of all but the first dimension; gain 0.5 for the adaLN modulation linears, else 1) |
 *
 * each computed in double precision and rounded once to fp32. make_goldens.py draws the same values in numpy
 * (test/reference/opendit_random.py, rules in `init_weight`) and records each tensor's sha256 in the sidecar, so
 * test/reference/goldens.test.ts proves the two agree bit for bit; the reference interpreter's tests read them with
 * `goldenWeightsFloat64`, and the native tests write the checkpoint a golden's pipeline names with
 * `writeGoldenCheckpoint`.
 */
import { encodeF32 } from "../../checkpoint/dtype.js";
import { fillNormals, tensorKey } from "../../checkpoint/generator.js";
import { elementCount } from "../../checkpoint/safetensors.js";
import { writeSafetensors } from "../../checkpoint/safetensors-write.js";
import type { WeightInfo } from "../../compiler/models/types.js";

/** The modulation linears whose weights get half the usual scale (their outputs shift and scale the stream). */
const MODULATION_LINEARS = ["adaLN_modulation.1.weight", "t_block.1.weight", "adaln_single.linear.weight"];

/** The value of a tensor's element from its standard normal `z`, by the rules above. */
export function goldenScale(name: string, shape: readonly number[]): (z: number) => number {
  if (name.endsWith("q_norm.weight") || name.endsWith("k_norm.weight")) return (z) => 1 + 0.2 * z;
  if (name.endsWith("scale_shift_table")) return (z) => 0.3 * z;
  if (name.endsWith("embedding_table.weight") || name.endsWith("y_embedding")) return (z) => z;
  if (name.endsWith(".bias")) return (z) => 0.2 * z;
  if (shape.length >= 2) {
    const fanIn = elementCount(shape.slice(1));
    const gain = MODULATION_LINEARS.some((suffix) => name.endsWith(suffix)) ? 0.5 : 1;
    const scale = gain / Math.sqrt(fanIn);
    return (z) => z * scale;
  }
  throw new Error(`no golden initialisation rule for ${name} [${shape.join(", ")}]`);
}

/** One golden weight in fp32. */
export function goldenWeight(seed: number, name: string, shape: readonly number[]): Float32Array {
  const values = new Float32Array(elementCount(shape));
  fillNormals(tensorKey(seed, name), values, goldenScale(name, shape));
  return values;
}

/** A golden checkpoint as the reference interpreter reads it: every tensor of `weights`, its fp32 values widened exactly to float64. */
export function goldenWeightsFloat64(seed: number, weights: readonly WeightInfo[]): Map<string, Float64Array> {
  return new Map(weights.map((w) => [w.name, Float64Array.from(goldenWeight(seed, w.name, w.shape))]));
}

/** Writes a golden checkpoint: every tensor of `weights`, fp32, under its official name. Returns the file's size. */
export function writeGoldenCheckpoint(path: string, seed: number, weights: readonly WeightInfo[]): Promise<number> {
  return writeSafetensors(
    path,
    weights.map((w) => ({ name: w.name, dtype: "F32" as const, shape: w.shape })),
    (t) => encodeF32(goldenWeight(seed, t.name, t.shape), "fp32"),
    { "opendit.golden-weights": "opendit-random-v1 normals, scaled by test/helpers/golden-weights.ts", "opendit.seed": String(seed) },
  );
}
