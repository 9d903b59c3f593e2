/**
 * The .odit front end: text -> tokens -> CST (with recovery, so every syntax error is reported in one run)
 * -> SourceTree. The tree is returned only when the file has no errors at all: later stages would only
 * report the consequences of a broken file. Whatever the input, this never throws.
 */
import type { IToken } from "chevrotain";
import { compareDiagnostics, createDiagnostic, type Diagnostic, type DiagnosticInit } from "../../diagnostics/diagnostic.js";
import { isRealToken, type ErrorContext, type SyntaxProblem } from "../expr/syntax-errors.js";
import { LBracket, RBracket } from "../expr/tokens.js";
import { positionAt, type SourceFile } from "../source.js";
import type { NodeSpan, SourceTree } from "../source-tree.js";
import { buildTree } from "./build-tree.js";
import { placeComments } from "./comments.js";
import { parseOditTokens } from "./parser.js";
import { decodeString } from "./string-literal.js";
import { recognitionProblems, cstProblems, unclosedAtEnd } from "./syntax-errors.js";
import { LCurly, oditLexer, RCurly, StringLiteral } from "./tokens.js";

/** Deeper nesting is reported rather than parsed: the parser and the printer recurse per level. */
const MAX_DEPTH = 64;
/** At most this many syntax errors are reported: a broken file can make recovery find thousands. */
const MAX_SYNTAX_ERRORS = 100;

const CHARACTER_HINTS: Readonly<Record<string, string>> = {
  ":": "write a key and its value separated by a space, such as `steps 30`",
  "=": "write a key and its value separated by a space, such as `steps 30`",
  "'": "strings are written in double quotes",
  "-": "a list is written in brackets, such as `[mp4, latents]`; a word starts with a letter",
};

function lexerProblems(file: SourceFile, errors: readonly { offset: number; length: number }[]): DiagnosticInit[] {
  return errors.map(({ offset, length }) => {
    const chars = file.text.slice(offset, offset + length);
    const hint = CHARACTER_HINTS[chars[0]!];
    return {
      code: "OD1101",
      message: `Unexpected ${length === 1 ? "character" : "characters"} \`${chars}\`.`,
      range: { start: offset, end: offset + length },
      ...(hint ? { hint } : {}),
    };
  });
}

function stringProblems(tokens: readonly IToken[]): DiagnosticInit[] {
  const problems: DiagnosticInit[] = [];
  for (const t of tokens) {
    if (t.tokenType !== StringLiteral) continue;
    const decoded = decodeString(t.image);
    for (const bad of decoded.badEscapes) {
      const escape = t.image.slice(bad.start, bad.end);
      problems.push({
        code: "OD1102",
        message: `Unknown escape \`${escape}\` in a string.`,
        range: { start: t.startOffset + bad.start, end: t.startOffset + bad.end },
        hint: "strings use JSON's escapes: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX",
      });
    }
    if (!decoded.terminated) {
      problems.push({
        code: "OD1103",
        message: "This string is not closed before the end of its line.",
        range: { start: t.startOffset, end: t.startOffset + t.image.length },
        hint: "close it with `\"`; a string stays on one line (write `\\n` for a line break)",
      });
    }
  }
  return problems;
}

function tooDeep(tokens: readonly IToken[]): DiagnosticInit | undefined {
  let depth = 0;
  for (const t of tokens) {
    if (t.tokenType === LCurly || t.tokenType === LBracket) {
      depth++;
      if (depth > MAX_DEPTH) {
        return { code: "OD1102", message: `Blocks and lists are nested more than ${MAX_DEPTH} levels deep here.`, range: { start: t.startOffset, end: t.startOffset + 1 } };
      }
    } else if ((t.tokenType === RCurly || t.tokenType === RBracket) && depth > 0) depth--;
  }
  return undefined;
}

function fromProblem(p: SyntaxProblem): DiagnosticInit {
  return { code: "OD1102", message: p.message, range: p.range, ...(p.hint ? { hint: p.hint } : {}), ...(p.related ? { related: p.related } : {}) };
}

function parseChecked(file: SourceFile): { tree?: SourceTree; diagnostics: DiagnosticInit[] } {
  const lexed = oditLexer.tokenize(file.text);
  const problems: DiagnosticInit[] = [...lexerProblems(file, lexed.errors), ...stringProblems(lexed.tokens)].slice(0, MAX_SYNTAX_ERRORS);
  const deep = tooDeep(lexed.tokens);
  if (deep) return { diagnostics: [...problems, deep] };

  const parsed = parseOditTokens(lexed.tokens);
  const { cst } = parsed;
  const errors = parsed.errors.slice(0, MAX_SYNTAX_ERRORS);
  const ctx: ErrorContext = {
    tokens: lexed.tokens,
    base: 0,
    endName: "the end of the file",
    lineOf: (offset) => positionAt(file, offset).line,
    claimed: new Set(),
  };
  // The CST's own problems first: a stray closer names the bracket it leaves open, so that recovery's later
  // complaint about the same bracket is dropped; where both report one spot, recovery's wording is kept.
  const fromCst = cstProblems(cst, ctx);
  const recognized = recognitionProblems(errors, ctx);
  const consumed = fromCst.filter((p) => !recognized.some((r) => r.range.start === p.range.start));
  const syntax = [...recognized, ...consumed];
  syntax.push(...unclosedAtEnd(ctx));
  problems.push(...syntax.slice(0, MAX_SYNTAX_ERRORS).map(fromProblem));
  if (errors.length > 0 || syntax.length > 0) return { diagnostics: problems };

  const built = buildTree(file, cst);
  problems.push(...built.problems);
  if (built.value === undefined) {
    problems.push({ code: "OD1010", message: "The file holds no pipeline.", range: { start: 0, end: 0 }, hint: "a pipeline starts with `version 1`" });
  }
  if (problems.length > 0) return { diagnostics: problems };

  const first = lexed.tokens.find(isRealToken);
  const comments = placeComments(file, lexed.groups["comments"] ?? [], first ? first.startOffset : file.text.length, built.anchors);
  const nodes = new Map<string, NodeSpan>();
  for (const [pointer, span] of built.nodes) {
    const attached = pointer === "" ? comments.root : comments.byPointer.get(pointer);
    nodes.set(pointer, attached && attached.length > 0 ? { ...span, comments: attached } : span);
  }
  const tree: SourceTree = {
    file,
    syntax: "odit",
    value: built.value,
    nodes,
    ...(comments.trailing.length > 0 ? { trailingComments: comments.trailing } : {}),
  };
  return { tree, diagnostics: [] };
}

function sameDiagnostic(a: Diagnostic, b: Diagnostic): boolean {
  return a.code === b.code && a.start.offset === b.start.offset && a.end.offset === b.end.offset && a.message === b.message;
}

export function parseOdit(file: SourceFile): { tree?: SourceTree; diagnostics: Diagnostic[] } {
  let result: { tree?: SourceTree; diagnostics: DiagnosticInit[] };
  try {
    result = parseChecked(file);
  } catch (e) {
    // A bug, not a user error: report it as one instead of crashing the caller.
    const reason = e instanceof Error ? e.message : String(e);
    result = { diagnostics: [{ code: "OD9001", message: `The .odit parser failed internally: ${reason}`, range: { start: 0, end: 0 } }] };
  }
  const diagnostics: Diagnostic[] = [];
  for (const d of result.diagnostics.map((init) => createDiagnostic(file, init)).sort(compareDiagnostics)) {
    if (!diagnostics.some((seen) => sameDiagnostic(seen, d))) diagnostics.push(d);
  }
  return result.tree ? { tree: result.tree, diagnostics } : { diagnostics };
}
