/** The exit-code policy (errors, warnings, --max-warnings, --strict) and the colour decision. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { colorEnabled } from "../../cli/color.js";
import { validateExitCode, warningsFail } from "../../cli/exit-codes.js";

describe("exit code policy", () => {
  it("is 2 for IO problems, 1 for errors or failing warnings, 0 otherwise", () => {
    expect(validateExitCode({ errors: 0, warnings: 5, ioProblems: 0 }, {})).toBe(0);
    expect(validateExitCode({ errors: 1, warnings: 0, ioProblems: 0 }, {})).toBe(1);
    expect(validateExitCode({ errors: 1, warnings: 0, ioProblems: 1 }, {})).toBe(2);
    expect(validateExitCode({ errors: 0, warnings: 3, ioProblems: 0 }, { maxWarnings: 3 })).toBe(0);
    expect(validateExitCode({ errors: 0, warnings: 4, ioProblems: 0 }, { maxWarnings: 3 })).toBe(1);
    expect(validateExitCode({ errors: 0, warnings: 1, ioProblems: 0 }, { strict: true })).toBe(1);
    expect(validateExitCode({ errors: 0, warnings: 0, ioProblems: 0 }, { strict: true, maxWarnings: 0 })).toBe(0);
  });

  it("fails on warnings exactly when strict and any, or over the limit", () => {
    fc.assert(
      fc.property(fc.nat(50), fc.option(fc.nat(50), { nil: undefined }), fc.boolean(), (warnings, maxWarnings, strict) => {
        const policy = { ...(maxWarnings !== undefined ? { maxWarnings } : {}), strict };
        expect(warningsFail(warnings, policy)).toBe((strict && warnings > 0) || (maxWarnings !== undefined && warnings > maxWarnings));
      }),
    );
  });
});

describe("colour decision", () => {
  it("follows the flag, then FORCE_COLOR, then NO_COLOR, then the terminal", () => {
    expect(colorEnabled(true, { NO_COLOR: "1" }, false)).toBe(true);
    expect(colorEnabled(false, { FORCE_COLOR: "1" }, true)).toBe(false);
    expect(colorEnabled(undefined, { FORCE_COLOR: "1", NO_COLOR: "1" }, false)).toBe(true);
    expect(colorEnabled(undefined, { FORCE_COLOR: "0" }, true)).toBe(false);
    expect(colorEnabled(undefined, { NO_COLOR: "1" }, true)).toBe(false);
    expect(colorEnabled(undefined, { NO_COLOR: "" }, true)).toBe(true);
    expect(colorEnabled(undefined, {}, true)).toBe(true);
    expect(colorEnabled(undefined, {}, false)).toBe(false);
  });
});
