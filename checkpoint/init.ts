/**
 * How a random checkpoint initialises each kind of tensor, decided from its official name alone (so the
 * native runtime decides the same from the plan's weight table). The rules follow the scales of the official
 * initialisations, with one deliberate difference: nothing is exactly zero or exactly one. Official DiT code
 * zeroes biases and the adaLN modulation and sets norm weights to one; a checkpoint like that would let a
 * kernel that forgets a bias, a modulation or a norm weight pass every golden test.
 */

/** What a tensor's values are: `scale`·z, or 1 + `scale`·z for norm weights, z a standard normal. */
export interface TensorInit {
  /** The rule's name, as checkpoint/README.md lists it. */
  readonly rule: "norm-weight" | "bias" | "table" | "weight";
  readonly scale: number;
  readonly offset: 0 | 1;
}

/** The standard deviation of weights and biases: the scale of the official trunc_normal/normal inits. */
export const WEIGHT_STD = 0.02;

/**
 * The rule for a tensor, the first that matches:
 * 1. `norm-weight`: the last name component is `weight` and the one before contains `norm` (STDiT3's
 *    `q_norm.weight`): 1 + 0.02·z, near the identity a norm starts from.
 * 2. `bias`: the last component is `bias`: 0.02·z.
 * 3. `table`: the last component is `scale_shift_table` or `y_embedding` (adaLN-single's tables, the null
 *    caption): z / √(last dimension), the official `randn(...) / d ** 0.5`.
 * 4. `weight`: everything else (linear and conv weights, embedding tables): 0.02·z.
 */
export function initFor(name: string, shape: readonly number[]): TensorInit {
  const parts = name.split(".");
  const last = parts[parts.length - 1];
  const before = parts.length > 1 ? parts[parts.length - 2]! : "";
  if (last === "weight" && before.includes("norm")) return { rule: "norm-weight", scale: WEIGHT_STD, offset: 1 };
  if (last === "bias") return { rule: "bias", scale: WEIGHT_STD, offset: 0 };
  if (last === "scale_shift_table" || last === "y_embedding") {
    const d = shape.length > 0 ? shape[shape.length - 1]! : 1;
    return { rule: "table", scale: 1 / Math.sqrt(Math.max(d, 1)), offset: 0 };
  }
  return { rule: "weight", scale: WEIGHT_STD, offset: 0 };
}

/** The value a normal z becomes under a rule, before rounding to fp32: scale·z, or 1 + scale·z. */
export function applyInit(init: TensorInit, z: number): number {
  return init.offset === 1 ? 1 + init.scale * z : init.scale * z;
}
