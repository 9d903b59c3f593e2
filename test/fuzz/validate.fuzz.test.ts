/**
 * Fuzzing the front of the compiler: thousands of broken, truncated and strange inputs in both syntaxes
 * must give diagnostics, never an exception, and every diagnostic must be well formed (see invariants.ts).
 * Seeded: a failure prints fast-check's seed and path, and the shrunk input, to reproduce it exactly.
 */
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { validateText } from "../../compiler/validate.js";
import type { JsonValue } from "../../grammar/source-tree.js";
import { run } from "../cli/support/capture-io.js";
import { expectSound, checked } from "./support/invariants.js";
import { applyMutations, mutations } from "./support/mutations.js";
import { seedDocuments } from "./support/seed-documents.js";
import { applyValueEdits, valueEdits, writeValue } from "./support/value-mutations.js";

const SEED = 0x0d17;
const SEEDS = seedDocuments();
const RUNS_PER_DOCUMENT = 160;
/** Fewer runs when a property is slow per input (a whole CLI run). */
const options = (numRuns: number) => ({ seed: SEED, numRuns });

const otherSyntax = (path: string) => (path.endsWith(".odit") ? "yaml" : "odit");

/** The parsed values of the seeds that parse, for value-level mutation. */
const VALUES: JsonValue[] = SEEDS.map((s) => validateText(s.path, s.text, { fileExists: () => false, baseDir: "/x" }).tree?.value).filter(
  (v): v is JsonValue => v !== undefined && v !== null && typeof v === "object",
);

afterAll(() => {
  // The total is part of the test's contract (thousands of inputs); keep it from shrinking silently.
  expect(checked.inputs).toBeGreaterThanOrEqual(3000);
});

describe("validateText on mutated pipelines", () => {
  it("has seeds to mutate", () => {
    expect(SEEDS.length).toBeGreaterThanOrEqual(5);
    expect(SEEDS.some((s) => s.path.endsWith(".odit"))).toBe(true);
    expect(VALUES.length).toBeGreaterThanOrEqual(3);
  });

  it.each(SEEDS.map((s) => [s.path, s] as const))("%s: text edits", (_, seed) => {
    fc.assert(
      fc.property(mutations, (edits) => {
        expectSound(seed.path, applyMutations(seed.text, edits));
      }),
      options(RUNS_PER_DOCUMENT),
    );
  });

  it("text edits read in the other syntax", () => {
    fc.assert(
      fc.property(fc.nat(), mutations, (which, edits) => {
        const seed = SEEDS[which % SEEDS.length]!;
        expectSound(seed.path, applyMutations(seed.text, edits), otherSyntax(seed.path));
      }),
      options(250),
    );
  });

  it("value edits written as block YAML or JSON", () => {
    fc.assert(
      fc.property(fc.nat(), valueEdits, fc.boolean(), (which, edits, asJson) => {
        const value = applyValueEdits(VALUES[which % VALUES.length]!, edits);
        expectSound(asJson ? "edited.json.yaml" : "edited.yaml", writeValue(value, asJson));
      }),
      options(700),
    );
  });
});

describe("validateText on random input", () => {
  it("random strings of every kind, in both syntaxes", () => {
    const anyText = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ unit: "binary", maxLength: 200 }),
      fc.string({ unit: "grapheme", maxLength: 100 }),
      fc.string({ unit: fc.constantFrom(..."{}[]:,-#&*!|>'\"\n\t x1ab"), maxLength: 200 }),
    );
    fc.assert(
      fc.property(anyText, fc.boolean(), (text, odit) => {
        expectSound(odit ? "random.odit" : "random.yaml", text);
      }),
      options(450),
    );
  });

  it("random JSON values as YAML", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.boolean(), (value, asJson) => {
        expectSound("value.yaml", writeValue(value as JsonValue, asJson));
      }),
      options(300),
    );
  });
});

describe("the CLI on random input", () => {
  it("exits 0 or 1 for any file on stdin, never 2 or 3", async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), mutations, fc.boolean(), async (which, edits, odit) => {
        const seed = SEEDS[which % SEEDS.length]!;
        const text = applyMutations(seed.text, edits);
        const result = await run(["validate", "-", "--stdin-filename", odit ? "in.odit" : "in.yaml", "--format", "json"], {
          cwd: "/",
          stdin: text,
        });
        expect(result.stderr).toBe("");
        expect([0, 1]).toContain(result.code);
        expect(JSON.parse(result.stdout).summary.files).toBe(1);
      }),
      options(150),
    );
  });
});
