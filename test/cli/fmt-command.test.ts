/** `opendit fmt` through the CLI: every example pipeline converted both ways, refusals, --check and -o. */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { validateText } from "../../compiler/validate.js";
import { parseSource } from "../../grammar/parse.js";
import { createSourceFile } from "../../grammar/source.js";
import { run } from "./support/capture-io.js";
import { fixtureDir, repoFile } from "./support/fixture-dir.js";

const PIPELINES = readdirSync(new URL("../../pipelines/", import.meta.url)).filter((name) => /\.(ya?ml|odit)$/.test(name));
const root = fixtureDir(Object.fromEntries(PIPELINES.map((name) => [name, repoFile(`pipelines/${name}`)])));

/** The plain value a file holds, whichever its syntax. */
function valueOf(path: string, text: string): unknown {
  return parseSource(createSourceFile(path, text)).tree?.value;
}

/** The codes a file raises, independent of where (positions differ between syntaxes). */
function codesOf(path: string, text: string): string[] {
  return validateText(path, text, { fileExists: () => false, baseDir: "/nonexistent" }).diagnostics.map((d) => `${d.code} ${d.message}`).sort();
}

describe("opendit fmt", () => {
  it.each(PIPELINES)("converts %s to the other syntax and back, meaning the same and reaching a fixed point", async (name) => {
    const to = name.endsWith(".odit") ? "yaml" : "odit";
    const converted = await run(["fmt", name, "--to", to], { cwd: root });
    expect(converted.stderr).toBe("");
    expect(converted.code).toBe(0);
    const convertedName = `${name}.${to}`;
    writeFileSync(join(root, convertedName), converted.stdout);
    expect(valueOf(convertedName, converted.stdout)).toEqual(valueOf(name, repoFile(`pipelines/${name}`)));
    expect(codesOf(convertedName, converted.stdout)).toEqual(codesOf(name, repoFile(`pipelines/${name}`)));

    const back = await run(["fmt", convertedName, "--to", to === "odit" ? "yaml" : "odit"], { cwd: root });
    expect(back.code).toBe(0);
    const backName = `${name}.back.${to === "odit" ? "yaml" : "odit"}`;
    writeFileSync(join(root, backName), back.stdout);
    expect(codesOf(backName, back.stdout)).toEqual(codesOf(name, repoFile(`pipelines/${name}`)));
    // Printing is idempotent: formatted output is already formatted.
    expect((await run(["fmt", backName, "--check"], { cwd: root })).code).toBe(0);
    expect((await run(["fmt", convertedName, "--check"], { cwd: root })).code).toBe(0);
  });

  it("refuses a file with syntax errors, printing them, exit 1", async () => {
    writeFileSync(join(root, "broken.yaml"), "version: 1\nmodel: [family\n");
    const result = await run(["fmt", "broken.yaml", "--to", "odit"], { cwd: root });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/^broken\.yaml:\d+:\d+ {2}error {2}.*\[OD10\d\d /);
    expect(result.stderr).toContain("has syntax errors");
  });

  it("--check fails on a file that is not formatted; -o writes the formatted file in place", async () => {
    writeFileSync(join(root, "messy.yaml"), "version:    1\nname:   messy\n");
    const check = await run(["fmt", "messy.yaml", "--check"], { cwd: root });
    expect(check.code).toBe(1);
    expect(check.stderr).toContain("`messy.yaml` is not formatted");
    const write = await run(["fmt", "messy.yaml", "-o", "messy.yaml"], { cwd: root });
    expect(write).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(readFileSync(join(root, "messy.yaml"), "utf8")).not.toBe("version:    1\nname:   messy\n");
    expect((await run(["fmt", "messy.yaml", "--check"], { cwd: root })).code).toBe(0);
  });

  it("exits 2 for a file that cannot be read", async () => {
    const result = await run(["fmt", "absent.yaml"], { cwd: root });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("[OD9002 unreadable-file]");
  });
});
