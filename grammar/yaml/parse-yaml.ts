/**
 * The YAML front end: text -> SourceTree, with every problem reported at once and at its exact span.
 *
 * The `yaml` package parses (YAML 1.2 core schema, string keys, no merge keys, no non-JSON tags); this file
 * runs its parser and composer directly so that the CST (for comments, directives and document markers) and
 * the documents come from one pass, then hands the first document to yaml-to-tree and the comments to
 * yaml-comments. It never throws: an unexpected failure becomes an internal-error diagnostic.
 */
import { Composer, isScalar, Parser, type CST, type Document, type DocumentOptions, type ParseOptions, type SchemaOptions } from "yaml";
import { compareDiagnostics, createDiagnostic, type Diagnostic, type DiagnosticInit } from "../../diagnostics/diagnostic.js";
import type { ParseResult } from "../parse.js";
import { positionAt, range, type Range, type SourceFile } from "../source.js";
import type { NodeSpan, Pointer, SourceTree } from "../source-tree.js";
import { placeComments } from "./yaml-comments.js";
import { yamlErrorDiagnostic } from "./yaml-errors.js";
import { firstTooDeep } from "./cst-depth.js";
import { MAX_DEPTH, tooDeepDiagnostic, yamlToTree } from "./yaml-to-tree.js";

const YAML_OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = {
  version: "1.2",
  schema: "core",
  // Keys are JSON object keys: `0:` is "0"; a list or mapping as a key is reported (OD1008).
  stringKeys: true,
  // Duplicates are reported here, with the first key as related information (OD1002).
  uniqueKeys: false,
  // `<<` stays an ordinary key so that it can be reported (OD1006).
  merge: false,
  // `!!binary`, `!!set`, `!!timestamp`, ... would make non-JSON values: leave them unresolved (OD1001).
  resolveKnownTags: false,
  intAsBigInt: false,
  prettyErrors: false,
  // The CST of each node, for the `-` of block list items (comments above it belong to the item).
  keepSourceTokens: true,
};

/** At most this many of the parser's errors are reported: broken input can make it repeat one error thousands of times. */
const MAX_SYNTAX_DIAGNOSTICS = 100;

/** yaml codes reported by yaml-to-tree in opendit's own words. */
const REPORTED_ELSEWHERE = new Set(["NON_STRING_KEY", "DUPLICATE_KEY", "MULTIPLE_DOCS"]);

export function parseYaml(file: SourceFile): ParseResult {
  try {
    return parseYamlFile(file);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return {
      diagnostics: [
        createDiagnostic(file, {
          code: "OD9001",
          message: `The YAML front end failed on this file: ${reason}.`,
          range: range(0, 0),
        }),
      ],
    };
  }
}

function parseYamlFile(file: SourceFile): ParseResult {
  const found: DiagnosticInit[] = [];
  const finish = (tree?: SourceTree): ParseResult => ({
    ...(tree ? { tree } : {}),
    diagnostics: found.map((init) => createDiagnostic(file, init)).sort(compareDiagnostics),
  });

  let tokens = Array.from(new Parser().parse(file.text));
  const directive = yamlDirectives(file.text, tokens, found);
  // A `%YAML 1.1` directive would switch the `yaml` package to YAML 1.1 (and merge keys on): read 1.2 anyway,
  // by parsing a copy whose directive says 1.2 (same length, so every offset stays the same).
  const text = directive.rewritten ?? file.text;
  if (directive.rewritten !== undefined) tokens = Array.from(new Parser().parse(text));

  const tooDeep = firstTooDeep(tokens, MAX_DEPTH);
  if (tooDeep !== undefined) {
    found.push(tooDeepDiagnostic(tooDeep, Math.min(tooDeep + 1, file.text.length)));
    return finish();
  }

  const composer = new Composer(YAML_OPTIONS);
  const documents: Document.Parsed[] = Array.from(composer.compose(tokens));
  const documentTokens = tokens.filter((t): t is CST.Document => t.type === "document");
  const first = documents[0];

  if (!first) {
    const stream = composer.streamInfo();
    const syntax = new SyntaxDiagnostics(found);
    for (const error of stream.errors) syntax.add(error.code, yamlErrorDiagnostic(error, text.length, "error"));
    for (const warning of stream.warnings) syntax.add(warning.code, yamlErrorDiagnostic(warning, text.length, "warning"));
    syntax.flush(file);
    if (stream.errors.length === 0) reportEmpty(found);
    return finish();
  }

  const empty = isEmptyContents(first.contents);
  const parts = yamlToTree(file, empty ? null : first.contents);
  const syntax = new SyntaxDiagnostics(found);
  for (const error of first.errors) {
    if (REPORTED_ELSEWHERE.has(error.code)) continue;
    if (error.code === "RESOURCE_EXHAUSTION" && parts.tooDeep) continue;
    syntax.add(error.code, yamlErrorDiagnostic(error, text.length, "error"));
  }
  for (const warning of first.warnings) {
    // An unknown tag leaves a value opendit cannot trust, so it is an error (yaml-errors words it).
    const severity = warning.code === "TAG_RESOLVE_FAILED" ? "error" : "warning";
    syntax.add(warning.code, yamlErrorDiagnostic(warning, text.length, severity));
  }
  syntax.flush(file);

  const secondStart = documentTokens[1]?.offset ?? Infinity;
  const second = documents[1];
  if (second) {
    found.push({
      code: "OD1004",
      message: "A second YAML document starts here; a pipeline file holds exactly one.",
      range: secondDocumentStart(file.text, documentTokens[1], second),
      hint: "Move this document into a file of its own, or remove it.",
    });
  }

  if (empty) {
    if (first.errors.length === 0) reportEmpty(found);
    return finish();
  }
  found.push(...parts.diagnostics);

  const rootRange = parts.nodes.get("")?.value ?? range(0, 0);
  const comments = placeComments(file, tokens, secondStart, parts.anchors, rootRange.start);
  const root = parts.nodes.get("") ?? { value: rootRange };
  if (comments.root.length > 0) root.comments = comments.root;
  parts.nodes.set("", root);
  for (const [pointer, lines] of comments.entries) {
    const node = parts.nodes.get(pointer);
    if (node) node.comments = lines;
  }
  const nodes: ReadonlyMap<Pointer, NodeSpan> = parts.nodes;
  return finish({
    file,
    syntax: "yaml",
    value: parts.value,
    nodes,
    ...(comments.trailing.length > 0 ? { trailingComments: comments.trailing } : {}),
  });
}

/** Collects the parser's diagnostics once each, up to MAX_SYNTAX_DIAGNOSTICS. */
/**
 * Collects the parser's errors and warnings. One broken line (an unquoted `[` inside `{ }`, say) makes the
 * parser report a cascade of "unexpected token" errors on every line after it; only the first error is the
 * user's mistake, so later errors of the cascading kinds are dropped, and at most one error is kept per line.
 */
class SyntaxDiagnostics {
  private readonly entries: { readonly yamlCode: string; readonly init: DiagnosticInit }[] = [];

  constructor(private readonly found: DiagnosticInit[]) {}

  add(yamlCode: string, init: DiagnosticInit): void {
    this.entries.push({ yamlCode, init });
  }

  /** Moves what is worth reporting into `found`. */
  flush(file: SourceFile): void {
    const seen = new Set<string>();
    const errorLines = new Set<number>();
    let firstError = true;
    const ordered = [...this.entries].sort((a, b) => a.init.range.start - b.init.range.start);
    for (const { yamlCode, init } of ordered) {
      const key = `${init.code} ${init.range.start} ${init.range.end} ${init.message}`;
      if (seen.has(key) || seen.size >= MAX_SYNTAX_DIAGNOSTICS) continue;
      if (init.code === "OD1001") {
        const line = positionAt(file, init.range.start).line;
        if (!firstError && (CASCADING.has(yamlCode) || errorLines.has(line))) continue;
        firstError = false;
        errorLines.add(line);
      }
      seen.add(key);
      this.found.push(init);
    }
  }
}

/** yaml error codes that, after a first error, are almost always its consequences. */
const CASCADING = new Set(["UNEXPECTED_TOKEN", "BAD_INDENT", "MISSING_CHAR", "MULTILINE_IMPLICIT_KEY", "BLOCK_AS_IMPLICIT_KEY"]);

function reportEmpty(found: DiagnosticInit[]): void {
  found.push({
    code: "OD1010",
    message: "The file holds no pipeline: it is empty or holds only comments.",
    range: range(0, 0),
    hint: "Write the pipeline as a YAML mapping, starting with `version: 1`.",
  });
}

/** Warns about each `%YAML` directive of the first document and, for `%YAML 1.1`, returns the text read as 1.2. */
function yamlDirectives(text: string, tokens: readonly CST.Token[], found: DiagnosticInit[]): { rewritten?: string } {
  let rewritten: string | undefined;
  for (const token of tokens) {
    if (token.type === "document") break;
    if (token.type !== "directive") continue;
    const m = /^%YAML([ \t]+)(\S*)/.exec(token.source);
    if (!m) continue;
    const version = m[2] ?? "";
    const at = range(token.offset, token.offset + m[0].length);
    if (version === "1.1") {
      const versionStart = token.offset + "%YAML".length + (m[1]?.length ?? 0);
      const current = rewritten ?? text;
      rewritten = current.slice(0, versionStart) + "1.2" + current.slice(versionStart + 3);
      found.push({
        code: "OD1007",
        message: "`%YAML 1.1` asks for YAML 1.1, but opendit reads pipeline files as YAML 1.2 and ignores it.",
        range: at,
        hint: "Remove the directive, and quote values that YAML 1.1 reads differently (opendit warns about them).",
      });
      continue;
    }
    found.push({
      code: "OD1007",
      message: `\`%YAML ${version}\` is not needed: opendit reads pipeline files as YAML 1.2.`,
      range: at,
      hint: "Remove the directive.",
    });
  }
  return rewritten === undefined ? {} : { rewritten };
}

/** Where the second document starts: its `---` marker, or its first line when it has none. */
function secondDocumentStart(text: string, token: CST.Document | undefined, document: Document.Parsed): Range {
  const marker = token?.start.find((t) => t.type === "doc-start");
  if (marker) return range(marker.offset, marker.offset + marker.source.length);
  const start = token?.offset ?? document.range[0];
  let end = start;
  while (end < text.length && text[end] !== "\n" && text[end] !== "\r") end++;
  while (end > start && (text[end - 1] === " " || text[end - 1] === "\t")) end--;
  return range(start, end);
}

/** A document with nothing in it (`---` alone): no value was written, not even `null`. */
function isEmptyContents(contents: unknown): boolean {
  if (contents === null || contents === undefined) return true;
  if (!isScalar(contents)) return false;
  const r = contents.range;
  return contents.value === null && !contents.tag && !contents.anchor && !!r && r[0] === r[1];
}
