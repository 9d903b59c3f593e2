/**
 * JUnit XML for CI test-report views (Jenkins, GitLab, Buildkite): a testsuite per file, a testcase per
 * diagnostic (named by code and position) with a <failure> for errors, or one passing testcase for a clean
 * file. Every element carries `time="0"`, which some consumers (Buildkite) require.
 */
import type { Diagnostic } from "../../diagnostics/diagnostic.js";
import type { FileReport } from "./report.js";
import { escapeXml, escapeXmlAttribute } from "./xml.js";

function testcaseName(d: Diagnostic): string {
  return `${d.code} ${d.name} at ${d.start.line}:${d.start.column}`;
}

function detailText(d: Diagnostic): string {
  const lines = [`${d.file}:${d.start.line}:${d.start.column} ${d.severity} ${d.message} [${d.code} ${d.name}]`];
  if (d.hint !== undefined) lines.push(`hint: ${d.hint}`);
  if (d.suggestions && d.suggestions.length > 0) lines.push(`suggestions: ${d.suggestions.join(", ")}`);
  return lines.join("\n");
}

function testcase(file: FileReport, d: Diagnostic): string {
  const open = `    <testcase name="${escapeXmlAttribute(testcaseName(d))}" classname="${escapeXmlAttribute(file.path)}" time="0">`;
  const body =
    d.severity === "error"
      ? `      <failure message="${escapeXmlAttribute(d.message)}" type="${d.code}">${escapeXml(detailText(d))}</failure>`
      : `      <system-out>${escapeXml(detailText(d))}</system-out>`;
  return `${open}\n${body}\n    </testcase>`;
}

function testsuite(file: FileReport): { xml: string; tests: number; failures: number } {
  const failures = file.diagnostics.filter((d) => d.severity === "error").length;
  const cases =
    file.diagnostics.length > 0
      ? file.diagnostics.map((d) => testcase(file, d))
      : [`    <testcase name="valid" classname="${escapeXmlAttribute(file.path)}" time="0"/>`];
  const tests = cases.length;
  const open = `  <testsuite name="${escapeXmlAttribute(file.path)}" tests="${tests}" failures="${failures}" errors="0" skipped="0" time="0">`;
  return { xml: `${open}\n${cases.join("\n")}\n  </testsuite>`, tests, failures };
}

export function renderJunit(files: readonly FileReport[]): string {
  const suites = files.map(testsuite);
  const tests = suites.reduce((n, s) => n + s.tests, 0);
  const failures = suites.reduce((n, s) => n + s.failures, 0);
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites name="opendit validate" tests="${tests}" failures="${failures}" errors="0" time="0">`,
    ...suites.map((s) => s.xml),
    `</testsuites>`,
    "",
  ].join("\n");
}
