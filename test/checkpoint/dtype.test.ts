/** fp16 and bf16 conversions against known bit patterns, ties to even, and exact round trips. */
import { describe, expect, it } from "vitest";
import { bf16ToF32, encodeF32, f16ToF32, f32Bits, f32FromBits, f32ToBf16, f32ToF16 } from "../../checkpoint/dtype.js";

// [bits, value]: IEEE binary16 patterns every implementation agrees on.
const F16: readonly [number, number][] = [
  [0x0000, 0],
  [0x3c00, 1],
  [0xc000, -2],
  [0x3555, 0.333251953125],
  [0x7bff, 65504],
  [0x0400, 2 ** -14],
  [0x0001, 2 ** -24],
  [0x03ff, 1023 * 2 ** -24],
  [0x7c00, Infinity],
  [0xfc00, -Infinity],
];

// [bits, value]: bfloat16 is the top half of an fp32.
const BF16: readonly [number, number][] = [
  [0x0000, 0],
  [0x3f80, 1],
  [0xc000, -2],
  [0x4049, 3.140625],
  [0x7f7f, 3.3895313892515355e38],
  [0x0080, 2 ** -126],
  [0x0001, 2 ** -133],
  [0x7f80, Infinity],
  [0xff80, -Infinity],
];

describe("fp16", () => {
  it.each(F16)("0x%s decodes to its value and encodes back", (bits, value) => {
    expect(f16ToF32(bits)).toBe(value);
    expect(f32ToF16(value)).toBe(bits);
  });

  it("keeps the sign of zero and decodes NaN", () => {
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f32ToF16(-0)).toBe(0x8000);
    expect(f16ToF32(0x7e00)).toBeNaN();
    expect(f32ToF16(NaN) & 0x7e00).toBe(0x7e00);
  });

  it("rounds to nearest, ties to even, and overflows to infinity", () => {
    // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: to the even mantissa (1). 1 + 3·2^-11 goes up.
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00);
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f32ToF16(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01);
    // Halfway between 65504 and the next step (65536) rounds to even, which is infinity.
    expect(f32ToF16(65520)).toBe(0x7c00);
    expect(f32ToF16(65519)).toBe(0x7bff);
    expect(f32ToF16(1e6)).toBe(0x7c00);
    // Subnormals: half the smallest rounds to even (zero), a little more rounds up; 1.5 units to 2.
    expect(f32ToF16(2 ** -25)).toBe(0x0000);
    expect(f32ToF16(2 ** -25 + 2 ** -35)).toBe(0x0001);
    expect(f32ToF16(1.5 * 2 ** -24)).toBe(0x0002);
    expect(f32ToF16(2 ** -30)).toBe(0x0000);
    // The largest subnormal rounds up into the smallest normal.
    expect(f32ToF16(2 ** -14 - 2 ** -26)).toBe(0x0400);
  });

  it("every one of the 65,536 patterns survives fp16 -> fp32 -> fp16", () => {
    const changed: number[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = f16ToF32(bits);
      if (!Number.isNaN(value) && f32ToF16(value) !== bits) changed.push(bits);
    }
    expect(changed).toEqual([]);
  });
});

describe("bf16", () => {
  it.each(BF16)("0x%s decodes to its value and encodes back", (bits, value) => {
    expect(bf16ToF32(bits)).toBe(value);
    expect(f32ToBf16(value)).toBe(bits);
  });

  it("rounds to nearest, ties to even, and keeps NaN a NaN", () => {
    // fp32 0x3F808000 is halfway between bf16 0x3F80 and 0x3F81: to even. 0x3F818000: up to 0x3F82.
    expect(f32ToBf16(f32FromBits(0x3f808000))).toBe(0x3f80);
    expect(f32ToBf16(f32FromBits(0x3f818000))).toBe(0x3f82);
    expect(f32ToBf16(f32FromBits(0x3f808001))).toBe(0x3f81);
    expect(f32ToBf16(f32FromBits(0x7f7fffff))).toBe(0x7f80);
    expect(f32ToBf16(f32FromBits(0x7f800001))).toBe(0x7fc0);
    expect(bf16ToF32(0x7fc0)).toBeNaN();
    expect(f32ToBf16(-0)).toBe(0x8000);
  });

  it("every pattern survives bf16 -> fp32 -> bf16", () => {
    const changed: number[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = bf16ToF32(bits);
      if (!Number.isNaN(value) && f32ToBf16(value) !== bits) changed.push(bits);
    }
    expect(changed).toEqual([]);
  });
});

describe("encodeF32", () => {
  it("writes little-endian bytes of each storage dtype", () => {
    const values = new Float32Array([1, -2]);
    expect([...encodeF32(values, "fp32")]).toEqual([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0]);
    expect([...encodeF32(values, "fp16")]).toEqual([0x00, 0x3c, 0x00, 0xc0]);
    expect([...encodeF32(values, "bf16")]).toEqual([0x80, 0x3f, 0x00, 0xc0]);
    expect(f32Bits(1)).toBe(0x3f800000);
  });
});
