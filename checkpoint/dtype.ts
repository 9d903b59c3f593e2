/**
 * The element types a safetensors file may hold, their sizes, and the conversions between fp32 and the two
 * 16-bit float formats. Conversions to 16 bits round to nearest, ties to even, as PyTorch's `.to(dtype)` does,
 * so a checkpoint written here in fp16 or bf16 holds the same bits PyTorch would write for the same fp32 values.
 */

/** Every dtype name of the safetensors format, with its size in bytes. */
export const DTYPE_BYTES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
} as const;

export type SafetensorsDtype = keyof typeof DTYPE_BYTES;

/** The dtypes a model weight may have: the runtime converts these three to its compute type on load. */
export const WEIGHT_DTYPES: readonly SafetensorsDtype[] = ["F32", "F16", "BF16"];

/** The pipeline's dtype names (`model.dtype`, `--dtype`) and the safetensors names they are stored as. */
export const STORAGE_DTYPES = { fp32: "F32", fp16: "F16", bf16: "BF16" } as const satisfies Record<string, SafetensorsDtype>;
export type StorageDtype = keyof typeof STORAGE_DTYPES;

export function isSafetensorsDtype(name: string): name is SafetensorsDtype {
  return Object.hasOwn(DTYPE_BYTES, name);
}

// One scratch word viewed both ways: the only exact way in JavaScript to get at a float32's bits.
const scratch = new DataView(new ArrayBuffer(4));

/** The IEEE binary32 bits of `x` rounded to fp32. */
export function f32Bits(x: number): number {
  scratch.setFloat32(0, x);
  return scratch.getUint32(0);
}

/** The fp32 value of IEEE binary32 bits. */
export function f32FromBits(bits: number): number {
  scratch.setUint32(0, bits >>> 0);
  return scratch.getFloat32(0);
}

/** fp16 bits -> value (exact: every fp16 value is an fp32 value). */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  // Subnormals are mant * 2^-24; normals (1 + mant/1024) * 2^(exp-15). Both products are exact in doubles.
  if (exp === 0) return sign * mant * 2 ** -24;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** fp32 (the value `x` rounded to fp32 first) -> fp16 bits, round to nearest even; overflow gives infinity. */
export function f32ToF16(x: number): number {
  const bits = f32Bits(x);
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  // The exponent rebiased for fp16 (bias 15 instead of 127).
  const e = exp - 112;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // fp16 subnormal: the value in units of 2^-24 is the full significand shifted right by 14 - e. Below
    // e = -10 even the largest significand is under half a unit, so it rounds to zero (fp32 subnormals too).
    if (e < -10) return sign;
    const significand = mant | 0x800000;
    const shift = 14 - e;
    let half = significand >>> shift;
    const rest = significand & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1) === 1)) half += 1;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (and the largest finite values up to infinity).
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half += 1;
  return sign | half;
}

/** bf16 bits -> value (exact: bf16 is the upper half of an fp32). */
export function bf16ToF32(b: number): number {
  return f32FromBits((b & 0xffff) << 16);
}

/** fp32 (the value `x` rounded to fp32 first) -> bf16 bits, round to nearest even; NaN stays a quiet NaN. */
export function f32ToBf16(x: number): number {
  const bits = f32Bits(x);
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return ((bits >>> 16) | 0x40) & 0xffff;
  // Adding 0x7fff plus the lowest kept bit rounds half to even; a carry may reach infinity, which is right.
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** fp32 values as the little-endian bytes of a storage dtype (16-bit types rounded to nearest even). */
export function encodeF32(values: Float32Array, dtype: StorageDtype): Uint8Array {
  const size = DTYPE_BYTES[STORAGE_DTYPES[dtype]];
  const bytes = new Uint8Array(values.length * size);
  const view = new DataView(bytes.buffer);
  // DataView with an explicit little-endian flag: the file's byte order whatever the machine's.
  if (dtype === "fp32") for (let i = 0; i < values.length; i++) view.setFloat32(4 * i, values[i]!, true);
  else if (dtype === "fp16") for (let i = 0; i < values.length; i++) view.setUint16(2 * i, f32ToF16(values[i]!), true);
  else for (let i = 0; i < values.length; i++) view.setUint16(2 * i, f32ToBf16(values[i]!), true);
  return bytes;
}
