/** File selection (literal paths, directories, stdin) and reading, with OD9002 for what cannot be read. */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { selectFiles } from "../../cli/select-files.js";
import { validateFiles } from "../../cli/validate-files.js";
import { fixtureDir } from "./support/fixture-dir.js";

const root = fixtureDir({ "a/one.yaml": "x: 1\n", "a/two.odit": "x 1\n", "a/b/three.yml": "x: 1\n", "a/.git/four.yaml": "", "c[1].yaml": "" });

describe("file selection", () => {
  it("takes an existing path literally even when it looks like a glob", async () => {
    const selection = await selectFiles(["c[1].yaml"], { cwd: root });
    expect(selection.inputs.map((i) => i.path)).toEqual(["c[1].yaml"]);
    expect(selection.problems).toEqual([]);
  });

  it("reports directory files under the directory as given, sorted, without .git", async () => {
    const selection = await selectFiles(["a/"], { cwd: root });
    expect(selection.inputs.map((i) => i.path)).toEqual(["a/b/three.yml", "a/one.yaml", "a/two.odit"]);
    const absolute = await selectFiles([join(root, "a")], { cwd: "/" });
    expect(absolute.inputs.map((i) => i.path)).toEqual([join(root, "a/b/three.yml"), join(root, "a/one.yaml"), join(root, "a/two.odit")]);
  });

  it("names stdin by --stdin-filename, once however often `-` is given", async () => {
    const selection = await selectFiles(["-", "-"], { cwd: root, stdinFilename: "x.odit" });
    expect(selection.inputs).toEqual([{ kind: "stdin", path: "x.odit" }]);
  });
});

describe("reading and validating", () => {
  it("turns a file that cannot be read into an OD9002 report and counts it", async () => {
    const selection = { inputs: [{ kind: "file" as const, path: "a", absolutePath: join(root, "a") }], problems: [] };
    const result = await validateFiles(selection, { cwd: root });
    expect(result.ioProblems).toBe(1);
    expect(result.files[0]!.diagnostics.map((d) => [d.code, d.message])).toEqual([["OD9002", "Cannot read `a`: it is a directory."]]);
  });

  it("keeps the input order while reading concurrently, and strips a byte-order mark", async () => {
    const selection = await selectFiles(["a"], { cwd: root });
    const seen: string[] = [];
    const result = await validateFiles(selection, {
      cwd: root,
      readConcurrency: 3,
      validate: (path, text) => {
        seen.push(text);
        return { file: { path, text, lineStarts: [0] }, diagnostics: [] };
      },
    });
    expect(result.files.map((f) => f.path)).toEqual(selection.inputs.map((i) => i.path));
    expect(result.ioProblems).toBe(0);
    const bom = await validateFiles(
      { inputs: [{ kind: "stdin", path: "<stdin>" }], problems: [] },
      { cwd: root, readStdin: async () => "\ufeffx: 1\n" },
    );
    expect(bom.files[0]!.source.text).toBe("x: 1\n");
    expect(seen).toHaveLength(3);
  });
});
