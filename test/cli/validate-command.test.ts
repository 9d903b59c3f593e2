/** `opendit validate` run in-process on temporary files: selection, formats, output, colour, exit codes. */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createDiagnostic } from "../../diagnostics/diagnostic.js";
import { createSourceFile } from "../../grammar/source.js";
import type { Validator } from "../../cli/validate-files.js";
import { run } from "./support/capture-io.js";
import { fixtureDir, repoBytes, repoFile } from "./support/fixture-dir.js";
import { expectWellFormedXml } from "./support/xml-check.js";

const QUICKSTART_YAML = repoFile("pipelines/quickstart.yaml");
const QUICKSTART_ODIT = repoFile("pipelines/quickstart.odit");
const BROKEN_YAML = "version: 1\nmodel: [family, \n";

const root = fixtureDir({
  "pipelines/ok.yaml": QUICKSTART_YAML,
  "pipelines/ok.odit": QUICKSTART_ODIT,
  // The text features both quickstart twins read (`conditioning.embeddings`), so that they validate clean.
  "pipelines/quickstart-text.safetensors": repoBytes("pipelines/quickstart-text.safetensors"),
  "pipelines/sub/bad.yaml": BROKEN_YAML,
  "pipelines/node_modules/dep.yaml": BROKEN_YAML,
  "pipelines/.hidden/x.yaml": BROKEN_YAML,
  "pipelines/notes.txt": "not a pipeline",
  "empty/readme.md": "nothing here",
  "nopipelines/.keep": "",
});

/** A validator that reports one warning per file (and an error for files named *error*). */
const warningValidator: Validator = (path, text) => {
  const file = createSourceFile(path, text);
  const diagnostics = [createDiagnostic(file, { code: "OD3313", message: "Trained at other sizes.", range: { start: 0, end: 1 } })];
  if (path.includes("error")) diagnostics.push(createDiagnostic(file, { code: "OD3101", message: "Degrees do not multiply.", range: { start: 0, end: 1 } }));
  return { file, diagnostics };
};

interface JsonOut {
  files: { path: string; diagnostics: { code: string; severity: string; start: { line: number } }[] }[];
  summary: { files: number; errors: number; warnings: number };
}

async function json(args: string[], cwd = root, extra: Parameters<typeof run>[1] = { cwd }) {
  const result = await run(["validate", "--format", "json", ...args], { ...extra, cwd });
  return { ...result, report: JSON.parse(result.stdout) as JsonOut };
}

describe("opendit validate: file selection", () => {
  it("validates one clean file: exit 0 and a one-line summary", async () => {
    const result = await run(["validate", "pipelines/ok.yaml"], { cwd: root });
    expect(result).toEqual({ code: 0, stdout: "1 file checked, no problems\n", stderr: "" });
  });

  it("searches directories for *.yaml, *.yml and *.odit, skipping node_modules and dot-directories", async () => {
    const { code, report } = await json(["pipelines"]);
    expect(code).toBe(1);
    expect(report.files.map((f) => f.path)).toEqual(["pipelines/ok.odit", "pipelines/ok.yaml", "pipelines/sub/bad.yaml"]);
    expect(report.files[0]!.diagnostics).toEqual([]);
    expect(report.files[2]!.diagnostics.some((d) => d.code.startsWith("OD10") && d.severity === "error")).toBe(true);
  });

  it("validates pipelines/ when no paths are given, and is a usage error without it", async () => {
    const { code, report } = await json([]);
    expect(code).toBe(1);
    expect(report.summary.files).toBe(3);
    const missing = await run(["validate"], { cwd: join(root, "nopipelines") });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^opendit: No paths given and no pipelines\/ directory/);
  });

  it("expands quoted globs itself and validates each file once", async () => {
    const { code, report } = await json(["pipelines/*.yaml", "pipelines/ok.yaml", "pipelines/**/*.odit"]);
    expect(code).toBe(0);
    expect(report.files.map((f) => f.path)).toEqual(["pipelines/ok.yaml", "pipelines/ok.odit"]);
  });

  it("reports paths and patterns that match nothing as OD9002 and exits 2", async () => {
    const { code, report } = await json(["pipelines/ok.yaml", "nope.yaml", "pipelines/*.yml", "empty"]);
    expect(code).toBe(2);
    expect(report.files.map((f) => [f.path, f.diagnostics.map((d) => d.code)])).toEqual([
      ["pipelines/ok.yaml", []],
      ["nope.yaml", ["OD9002"]],
      ["pipelines/*.yml", ["OD9002"]],
      ["empty", ["OD9002"]],
    ]);
    const stylish = await run(["validate", "nope.yaml"], { cwd: root });
    expect(stylish.code).toBe(2);
    expect(stylish.stdout).toContain("nope.yaml:1:1  error  No such file or directory: `nope.yaml`.  [OD9002 unreadable-file]");
  });

  it("reads stdin for `-`, naming it by --stdin-filename, whose extension picks the syntax", async () => {
    const yaml = await json(["-"], root, { cwd: root, stdin: QUICKSTART_YAML });
    expect(yaml.code).toBe(0);
    expect(yaml.report.files.map((f) => f.path)).toEqual(["<stdin>"]);
    const odit = await json(["-", "--stdin-filename", "piped.odit"], root, { cwd: root, stdin: QUICKSTART_ODIT });
    expect(odit.code).toBe(0);
    expect(odit.report.files.map((f) => f.path)).toEqual(["piped.odit"]);
    const oditReadAsYaml = await json(["-"], root, { cwd: root, stdin: QUICKSTART_ODIT });
    expect(oditReadAsYaml.code).toBe(1);
    const noStdin = await json(["-"]);
    expect(noStdin.code).toBe(2);
    expect(noStdin.report.files[0]!.diagnostics[0]!.code).toBe("OD9002");
  });
});

describe("opendit validate: formats and output", () => {
  it("writes each format's structure", async () => {
    const sarif = await run(["validate", "pipelines", "--format", "sarif"], { cwd: root });
    expect(sarif.code).toBe(1);
    const log = JSON.parse(sarif.stdout);
    expect(log.version).toBe("2.1.0");
    expect(log.runs[0].tool.driver.version).toBe(JSON.parse(repoFile("package.json")).version);
    expect(log.runs[0].results[0].locations[0].physicalLocation.artifactLocation).toEqual({ uri: "pipelines/sub/bad.yaml", uriBaseId: "%SRCROOT%" });

    const github = await run(["validate", "pipelines", "--format", "github"], { cwd: root });
    expect(github.stdout).toMatch(/^::error file=pipelines\/sub\/bad.yaml,line=\d+,endLine=\d+,col=\d+,endColumn=\d+,title=OD10\d\d [a-z-]+::/);
    expect(github.stdout).toMatch(/problems? \(\d+ errors?, 0 warnings\) in 3 files\n$/);

    const junit = await run(["validate", "pipelines", "--format", "junit"], { cwd: root });
    expectWellFormedXml(junit.stdout);
    expect(junit.stdout.match(/<testsuite /g)).toHaveLength(3);
    expect(junit.stdout.match(/<failure /g)!.length).toBeGreaterThan(0);
  });

  it("writes the report to -o atomically, printing nothing", async () => {
    const out = join(root, "report.json");
    const result = await run(["validate", "pipelines", "--format", "json", "-o", "report.json"], { cwd: root });
    expect(result).toMatchObject({ code: 1, stdout: "" });
    const onStdout = await run(["validate", "pipelines", "--format", "json"], { cwd: root });
    expect(readFileSync(out, "utf8")).toBe(onStdout.stdout);
    expect(readdirSync(root).filter((name) => name.endsWith(".tmp"))).toEqual([]);
    const unwritable = await run(["validate", "pipelines/ok.yaml", "-o", "no/such/dir/r.txt"], { cwd: root });
    expect(unwritable.code).toBe(2);
    expect(unwritable.stderr).toContain("cannot write `no/such/dir/r.txt`");
    expect(existsSync(join(root, "no"))).toBe(false);
  });

  it("colours stylish output on a terminal or when forced, never with --no-color, NO_COLOR or -o", async () => {
    const args = ["validate", "pipelines/sub/bad.yaml"];
    expect((await run(args, { cwd: root, isTTY: true })).stdout).toContain("\u001b[");
    expect((await run(args, { cwd: root, env: { FORCE_COLOR: "1" } })).stdout).toContain("\u001b[");
    expect((await run([...args, "--color"], { cwd: root })).stdout).toContain("\u001b[");
    expect((await run([...args, "--no-color"], { cwd: root, isTTY: true })).stdout).not.toContain("\u001b[");
    expect((await run(args, { cwd: root, isTTY: true, env: { NO_COLOR: "1" } })).stdout).not.toContain("\u001b[");
    expect((await run([...args, "--format", "json"], { cwd: root, env: { FORCE_COLOR: "1" } })).stdout).not.toContain("\u001b[");
  });
});

describe("opendit validate: exit codes", () => {
  const deps = { validate: warningValidator };

  it("passes warnings by default and fails them with --strict or over --max-warnings", async () => {
    const files = ["pipelines/ok.yaml", "pipelines/ok.odit"];
    expect((await run(["validate", ...files], { cwd: root, deps })).code).toBe(0);
    expect((await run(["validate", ...files, "--max-warnings", "2"], { cwd: root, deps })).code).toBe(0);
    const over = await run(["validate", ...files, "--max-warnings", "1"], { cwd: root, deps });
    expect(over.code).toBe(1);
    expect(over.stderr).toBe("opendit: 2 warnings found; --max-warnings is 1.\n");
    const strict = await run(["validate", ...files, "--strict"], { cwd: root, deps });
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain("--strict allows none");
  });

  it("hides warnings with --quiet but still counts them for the limits", async () => {
    const quiet = await run(["validate", "pipelines/ok.yaml", "--quiet"], { cwd: root, deps });
    expect(quiet).toEqual({ code: 0, stdout: "1 file checked, no problems\n", stderr: "" });
    expect((await run(["validate", "pipelines/ok.yaml", "--quiet", "--strict"], { cwd: root, deps })).code).toBe(1);
  });

  it("exits 1 on errors, with a summary that counts them", async () => {
    const result = await run(["validate", "-", "--stdin-filename", "has-error.yaml"], { cwd: root, deps, stdin: "x" });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("has-error.yaml:1:1  error  Degrees do not multiply.  [OD3101 layout-product]");
    expect(result.stdout).toContain("2 problems (1 error, 1 warning) in 1 file");
  });

  it("exits 2 on usage errors", async () => {
    for (const args of [["validate", "--format", "xml"], ["validate", "--max-warnings", "many"], ["validate", "--bogus"], ["frobnicate"], []]) {
      const result = await run(args, { cwd: root });
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr.length).toBeGreaterThan(0);
    }
  });

  it("exits 3 with the stack and a request to report when something throws", async () => {
    const result = await run(["validate", "pipelines/ok.yaml"], {
      cwd: root,
      deps: {
        validate: () => {
          throw new RangeError("boom in the checker");
        },
      },
    });
    expect(result.code).toBe(3);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("opendit: internal error (OD9001): boom in the checker");
    expect(result.stderr).toContain("please report it");
    expect(result.stderr).toMatch(/RangeError: boom in the checker\n\s+at /);
  });
});

describe("opendit: version, help, codes", () => {
  it("prints the package version and help, exiting 0", async () => {
    const version = await run(["--version"], { cwd: root });
    expect(version).toEqual({ code: 0, stdout: `${JSON.parse(repoFile("package.json")).version}\n`, stderr: "" });
    const help = await run(["--help"], { cwd: root });
    expect(help.code).toBe(0);
    for (const command of ["validate", "schema", "fmt", "codes", "explain"]) expect(help.stdout).toContain(command);
    const validateHelp = await run(["validate", "--help"], { cwd: root });
    expect(validateHelp.stdout).toContain("--max-warnings <n>");
    expect(validateHelp.stdout).toContain("Exit codes:");
  });

  it("explains codes and lists them as the committed docs/DIAGNOSTICS.md", async () => {
    const explained = await run(["explain", "layout-product"], { cwd: root });
    expect(explained.code).toBe(0);
    expect(explained.stdout).toMatch(/^OD3101 layout-product \(error\)\n/);
    const unknown = await run(["explain", "OD0000"], { cwd: root });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Unknown diagnostic code `OD0000`");
    const markdown = await run(["codes", "--markdown"], { cwd: root });
    expect(markdown.stdout).toBe(repoFile("docs/DIAGNOSTICS.md"));
  });
});
