/** The machine formats (json, github, sarif, junit): structure, escaping and counts. */
import { describe, expect, it } from "vitest";
import { renderGithub, annotation, escapeData, escapeProperty } from "../../cli/render/github.js";
import { renderJson } from "../../cli/render/json.js";
import { renderJunit } from "../../cli/render/junit.js";
import { artifactUri, renderSarif } from "../../cli/render/sarif.js";
import { codeInfo } from "../../diagnostics/codes.js";
import { fileReport, sampleReports } from "./support/file-report.js";
import { expectWellFormedXml } from "./support/xml-check.js";

const tool = { name: "opendit", version: "9.8.7", informationUri: "https://example.org/opendit" };

describe("json report", () => {
  it("has version, every file with its diagnostics, and the summary", () => {
    const parsed = JSON.parse(renderJson(sampleReports()));
    expect(parsed.version).toBe(1);
    expect(parsed.files.map((f: { path: string }) => f.path)).toEqual(["pipelines/a.yaml", "pipelines/clean.yaml"]);
    expect(parsed.files[1].diagnostics).toEqual([]);
    expect(parsed.summary).toEqual({ files: 2, errors: 1, warnings: 1, infos: 0 });
    const [warning, error] = parsed.files[0].diagnostics;
    expect(warning).toMatchObject({ code: "OD3313", name: "untrained-resolution", severity: "warning", file: "pipelines/a.yaml" });
    expect(error).toEqual(JSON.parse(JSON.stringify(sampleReports()[0]!.diagnostics[1])));
    expect(error).toMatchObject({ start: { line: 4, column: 11 }, end: { line: 4, column: 24 }, hint: "use `cfg 2 x dsp 4`" });
  });
});

describe("github annotations", () => {
  it("escapes data and properties as @actions/core does", () => {
    expect(escapeData("100% a\r\nb:c,d")).toBe("100%25 a%0D%0Ab:c,d");
    expect(escapeProperty("100% a\r\nb:c,d")).toBe("100%25 a%0D%0Ab%3Ac%2Cd");
  });

  it("writes one ::error/::warning per diagnostic with its span, then the plain stylish report", () => {
    const out = renderGithub(sampleReports());
    const lines = out.split("\n");
    expect(lines[0]).toBe(
      "::warning file=pipelines/a.yaml,line=3,endLine=3,col=3,endColumn=11,title=OD3313 untrained-resolution::Trained at 512, asked for 1024.",
    );
    expect(lines[1]).toBe(
      "::error file=pipelines/a.yaml,line=4,endLine=4,col=11,endColumn=24,title=OD3101 layout-product::" +
        "The layout's degrees multiply to 6, but the world size is 8.%0Ahint: use `cfg 2 x dsp 4`%0Asuggestions: cfg 2 x dsp 4, dsp 8",
    );
    expect(out).toContain("\n  4 |   layout: cfg 2 x dsp 3\n");
    expect(out.trimEnd().endsWith("2 problems (1 error, 1 warning) in 2 files")).toBe(true);
    expect(out).not.toContain("\u001b");
  });

  it("escapes commas and colons in paths and newlines and percents in messages", () => {
    const [report] = [fileReport("dir,x/a:b.yaml", "k: v\n", [{ code: "OD2001", message: "50% of\nit", at: "k", severity: "info" }])];
    expect(annotation(report!.diagnostics[0]!)).toBe(
      "::notice file=dir%2Cx/a%3Ab.yaml,line=1,endLine=1,col=1,endColumn=2,title=OD2001 unknown-key::50%25 of%0Ait",
    );
  });
});

describe("sarif log", () => {
  it("has the 2.1.0 fields, a rule per code used and a result per diagnostic", () => {
    const log = JSON.parse(renderSarif(sampleReports(), { tool, cwd: "/repo" }));
    expect(log.$schema).toMatch(/sarif-2\.1\.0/);
    expect(log.version).toBe("2.1.0");
    const run = log.runs[0];
    expect(run.tool.driver).toMatchObject({ name: "opendit", version: "9.8.7", informationUri: "https://example.org/opendit" });
    expect(run.tool.driver.rules).toEqual([
      { id: "OD3101", name: "layout-product", shortDescription: { text: codeInfo("OD3101").summary }, defaultConfiguration: { level: "error" } },
      {
        id: "OD3313",
        name: "untrained-resolution",
        shortDescription: { text: codeInfo("OD3313").summary },
        defaultConfiguration: { level: "warning" },
      },
    ]);
    expect(run.results).toHaveLength(2);
    const error = run.results[1];
    expect(error).toMatchObject({ ruleId: "OD3101", ruleIndex: 0, level: "error" });
    expect(error.message.text).toBe("The layout's degrees multiply to 6, but the world size is 8.\nhint: use `cfg 2 x dsp 4`");
    expect(error.locations[0].physicalLocation).toEqual({
      artifactLocation: { uri: "pipelines/a.yaml", uriBaseId: "%SRCROOT%" },
      region: { startLine: 4, startColumn: 11, endLine: 4, endColumn: 24 },
    });
    expect(error.relatedLocations[0].message.text).toBe("world size set here");
    expect(run.originalUriBaseIds["%SRCROOT%"].uri).toBe("file:///repo/");
  });

  it("makes artifact URIs relative to the working directory, forward-slashed and percent-encoded", () => {
    expect(artifactUri("/repo/pipelines/a b#1.yaml", "/repo")).toBe("pipelines/a%20b%231.yaml");
    expect(artifactUri("./pipelines/../x.yaml", "/repo")).toBe("x.yaml");
    expect(artifactUri("../other/x.yaml", "/repo/sub")).toBe("../other/x.yaml");
    expect(artifactUri("<stdin>", "/repo")).toBe("%3Cstdin%3E");
  });

  it("has no rules and no results for clean files", () => {
    const log = JSON.parse(renderSarif([fileReport("a.yaml", "", [])], { tool, cwd: "/repo" }));
    expect(log.runs[0].tool.driver.rules).toEqual([]);
    expect(log.runs[0].results).toEqual([]);
  });
});

describe("junit report", () => {
  it("has a testsuite per file, a testcase per diagnostic and a failure per error", () => {
    const xml = renderJunit(sampleReports());
    expectWellFormedXml(xml);
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="opendit validate" tests="3" failures="1"')).toBe(true);
    expect(xml.match(/<testsuite /g)).toHaveLength(2);
    expect(xml.match(/<testcase /g)).toHaveLength(3);
    expect(xml.match(/<failure /g)).toHaveLength(1);
    expect(xml.match(/time="0"/g)).toHaveLength(6);
    expect(xml).toContain('<testcase name="OD3101 layout-product at 4:11" classname="pipelines/a.yaml" time="0">');
    expect(xml).toContain('<testcase name="valid" classname="pipelines/clean.yaml" time="0"/>');
  });

  it("escapes markup and drops characters XML cannot hold", () => {
    const report = fileReport('a&<"b>.yaml', "k: v\n", [{ code: "OD2001", message: "bad <key> & \"x\" \u0001 \ud800 'y'", at: "k" }]);
    const xml = renderJunit([report]);
    expectWellFormedXml(xml);
    expect(xml).toContain('name="a&amp;&lt;&quot;b&gt;.yaml"');
    expect(xml).toContain('message="bad &lt;key&gt; &amp; &quot;x&quot; \ufffd \ufffd &apos;y&apos;"');
    expect(xml).not.toMatch(/[\u0001\ud800]/);
  });
});
