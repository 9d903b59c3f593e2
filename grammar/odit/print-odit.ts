/**
 * The canonical .odit text of a SourceTree, with its comments: blocks indented by two spaces, one entry per
 * line, short lists of scalars on one line, strings bare when they read back as the same word, layouts and
 * PAB windows written raw. `parseOdit(printOdit(t))` gives back `t.value`, and printing is idempotent.
 */
import { parseLayout, parseWindow } from "../expr/parse.js";
import type { ExprResult } from "../expr/types.js";
import { WORD_PATTERN } from "../expr/tokens.js";
import { joinPointer, type JsonValue, type Pointer, type SourceTree } from "../source-tree.js";
import { quoteString } from "./string-literal.js";
import { KEYWORDS } from "./tokens.js";

const INDENT = "  ";
/** A list is printed on one line when it fits in this many characters (its items alone). */
const ONE_LINE_LIST = 72;
/** YAML's editor modeline means nothing in .odit. */
const MODELINE = /^\s*yaml-language-server\s*:/;

/** Where the Spec holds expression forms, written raw when they parse cleanly. */
const EXPRESSIONS: ReadonlyMap<Pointer, (text: string, base: number) => ExprResult<unknown>> = new Map<
  Pointer,
  (text: string, base: number) => ExprResult<unknown>
>([
  ["/parallel/layout", parseLayout],
  ["/acceleration/pab/spatial", parseWindow],
  ["/acceleration/pab/temporal", parseWindow],
  ["/acceleration/pab/cross", parseWindow],
]);

/** A string that reads back as itself when written bare: a word that is not a keyword. */
export function isBareWord(s: string): boolean {
  return WORD_PATTERN.test(s) && !KEYWORDS.has(s);
}

/** A key that can be written bare (a word; not ending with `:`, which reads as a YAML habit). */
export function isBareKey(s: string): boolean {
  return isBareWord(s) && !s.endsWith(":");
}

function isRawExpression(s: string, pointer: Pointer): boolean {
  const parse = EXPRESSIONS.get(pointer);
  // Only plain spaces inside, none around: the text must read back exactly.
  if (!parse || s !== s.trim() || /[^\S ]/.test(s)) return false;
  const result = parse(s, 0);
  return result.value !== undefined && result.issues.length === 0;
}

function isObject(v: JsonValue | undefined): v is { [key: string]: JsonValue } {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function numberText(n: number): string {
  if (!Number.isFinite(n)) return "null";
  return Object.is(n, -0) ? "-0" : JSON.stringify(n);
}

class OditPrinter {
  private readonly lines: string[] = [];

  constructor(private readonly tree: SourceTree) {}

  print(): string {
    const { value } = this.tree;
    const root = this.comments("").filter((c) => !MODELINE.test(c));
    this.commentLines(root, "");
    if (root.length > 0 && value !== undefined) this.lines.push("");
    // A file that is not a mapping is one value; a string there is quoted (a bare word would read as a key).
    if (isObject(value) && Object.keys(value).length > 0) this.entries(value, "", "");
    else if (typeof value === "string") this.lines.push(quoteString(value));
    else if (value !== undefined) this.lines.push(...this.valueLines(value, "", ""));
    const trailing = this.tree.trailingComments ?? [];
    if (trailing.length > 0 && this.lines.length > 0) this.lines.push("");
    this.commentLines(trailing, "");
    return this.lines.length > 0 ? `${this.lines.join("\n")}\n` : "";
  }

  private comments(pointer: Pointer): readonly string[] {
    return this.tree.nodes.get(pointer)?.comments ?? [];
  }

  private commentLines(comments: readonly string[], indent: string, into: string[] = this.lines): void {
    for (const comment of comments) {
      for (const line of comment.split(/\r\n|\r|\n/)) into.push(line === "" ? `${indent}#` : `${indent}# ${line}`);
    }
  }

  private entries(object: { [key: string]: JsonValue }, pointer: Pointer, indent: string, into: string[] = this.lines): void {
    let first = true;
    for (const [key, value] of Object.entries(object)) {
      const at = joinPointer(pointer, key);
      const comments = this.comments(at);
      // A blank line sets a commented entry apart from the one before it.
      if (comments.length > 0 && !first) into.push("");
      this.commentLines(comments, indent, into);
      const [head, ...rest] = this.valueLines(value, at, indent);
      into.push(`${indent}${isBareKey(key) ? key : quoteString(key)} ${head}`, ...rest);
      first = false;
    }
  }

  /** The lines of a value: the first continues the line it starts on, the others are whole lines. */
  private valueLines(value: JsonValue, pointer: Pointer, indent: string): string[] {
    if (Array.isArray(value)) return this.listLines(value, pointer, indent);
    if (isObject(value)) {
      if (Object.keys(value).length === 0) return ["{}"];
      const lines = ["{"];
      this.entries(value, pointer, indent + INDENT, lines);
      lines.push(`${indent}}`);
      return lines;
    }
    return [this.scalar(value, pointer)];
  }

  private scalar(value: string | number | boolean | null, pointer: Pointer): string {
    if (typeof value === "string") return isRawExpression(value, pointer) || isBareWord(value) ? value : quoteString(value);
    if (typeof value === "number") return numberText(value);
    return String(value);
  }

  /** A list of scalars (or of such lists) without comments, on one line, when it is short. */
  private oneLine(list: JsonValue[], pointer: Pointer): string | undefined {
    const items: string[] = [];
    for (let i = 0; i < list.length; i++) {
      const item = list[i]!;
      const at = joinPointer(pointer, i);
      if (this.comments(at).length > 0 || isObject(item)) return undefined;
      const text = Array.isArray(item) ? this.oneLine(item, at) : this.scalar(item, at);
      if (text === undefined) return undefined;
      items.push(text);
    }
    const line = `[${items.join(", ")}]`;
    return line.length <= ONE_LINE_LIST ? line : undefined;
  }

  private listLines(list: JsonValue[], pointer: Pointer, indent: string): string[] {
    const short = this.oneLine(list, pointer);
    if (short !== undefined) return [short];
    const inner = indent + INDENT;
    const lines = ["["];
    list.forEach((item, i) => {
      const at = joinPointer(pointer, i);
      this.commentLines(this.comments(at), inner, lines);
      const [head, ...rest] = this.valueLines(item, at, inner);
      const all = [`${inner}${head}`, ...rest];
      all[all.length - 1] += ",";
      lines.push(...all);
    });
    lines.push(`${indent}]`);
    return lines;
  }
}

export function printOdit(tree: SourceTree): string {
  return new OditPrinter(tree).print();
}
