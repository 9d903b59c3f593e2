/**
 * Prints a SourceTree as canonical YAML for `fmt`: block mappings, two-space indentation, lists of scalars in
 * flow style (`[a, b]`) when they fit on a line of 100 characters and block lists otherwise, comments above
 * their entries. The output reads back to the same value and prints again to the same text.
 *
 * Whether a string can be written plain is the `yaml` package's decision (it knows YAML 1.2's rules); strings
 * that a YAML 1.1 reader such as PyYAML would take for something else (`no`, `1:30`) are quoted as well, and
 * every plain or flow spelling is read back once before it is trusted.
 */
import { Document, parseDocument, Scalar, YAMLSeq, type ToStringOptions } from "yaml";
import { joinPointer, type JsonValue, type Pointer, type SourceTree } from "../source-tree.js";
import { yaml11Difference } from "./yaml11-reading.js";
import { yamlNumber } from "./yaml-number.js";

const MAX_LINE = 100;
const INDENT = 2;
const STRINGIFY: ToStringOptions = { lineWidth: 0, minContentWidth: 0, blockQuote: false, flowCollectionPadding: false, indent: INDENT };
/** `off` is a documented PAB window value; it is printed plain there (and nowhere else). */
const PAB_PREFIX = "/acceleration/pab/";

export function printYaml(tree: SourceTree): string {
  return new YamlPrinter(tree).print();
}

type JsonObject = { [key: string]: JsonValue };

class YamlPrinter {
  private readonly lines: string[] = [];

  constructor(private readonly tree: SourceTree) {}

  print(): string {
    const rootComments = this.commentsOf("");
    this.pushComments(rootComments, 0);
    if (this.tree.value !== undefined) {
      // A blank line keeps the document's comments apart from the first entry's when read back.
      if (rootComments.length > 0) this.lines.push("");
      this.writeRoot(this.tree.value);
    }
    this.pushComments(this.tree.trailingComments ?? [], 0);
    return this.lines.length > 0 ? `${this.lines.join("\n")}\n` : "";
  }

  private writeRoot(value: JsonValue): void {
    if (isNonEmptyObject(value)) {
      this.writeMap(value, 0, "");
      return;
    }
    if (isNonEmptyArray(value)) {
      const flow = this.flowList(value, "");
      if (flow !== undefined && flow.length <= MAX_LINE) this.lines.push(flow);
      else this.writeList(value, 0, "");
      return;
    }
    this.lines.push(this.inline(value, ""));
  }

  private writeMap(object: JsonObject, indent: number, pointer: Pointer): void {
    for (const key of Object.keys(object)) {
      const child = joinPointer(pointer, key);
      this.pushComments(this.commentsOf(child), indent);
      this.writeEntry(`${pad(indent)}${this.stringText(key, child, true)}:`, object[key]!, indent, child);
    }
  }

  private writeEntry(prefix: string, value: JsonValue, indent: number, pointer: Pointer): void {
    if (isNonEmptyObject(value)) {
      this.lines.push(prefix);
      this.writeMap(value, indent + INDENT, pointer);
    } else if (isNonEmptyArray(value)) {
      const flow = this.flowList(value, pointer);
      if (flow !== undefined && prefix.length + 1 + flow.length <= MAX_LINE) this.lines.push(`${prefix} ${flow}`);
      else {
        this.lines.push(prefix);
        this.writeList(value, indent + INDENT, pointer);
      }
    } else {
      this.lines.push(`${prefix} ${this.inline(value, pointer)}`);
    }
  }

  /** Writes a block list with its dashes at `indent`, each item's comments above its dash. */
  private writeList(list: readonly JsonValue[], indent: number, pointer: Pointer): void {
    list.forEach((item, index) => {
      const child = joinPointer(pointer, index);
      this.pushComments(this.commentsOf(child), indent);
      this.writeItem(item, indent, child);
    });
  }

  /**
   * Writes one list item. A mapping or list in it starts on the dash's line (`- key: value`, `- - x`) unless
   * its first entry has comments: those must sit on lines of their own, after the dash, to stay with it.
   */
  private writeItem(item: JsonValue, indent: number, pointer: Pointer): void {
    if (isNonEmptyArray(item)) {
      const flow = this.flowList(item, pointer);
      if (flow !== undefined && indent + 2 + flow.length <= MAX_LINE) {
        this.lines.push(`${pad(indent)}- ${flow}`);
        return;
      }
    }
    if (!isNonEmptyObject(item) && !isNonEmptyArray(item)) {
      this.lines.push(`${pad(indent)}- ${this.inline(item, pointer)}`);
      return;
    }
    const first = joinPointer(pointer, Array.isArray(item) ? 0 : Object.keys(item)[0]!);
    const compact = this.commentsOf(first).length === 0;
    if (!compact) this.lines.push(`${pad(indent)}-`);
    const mark = this.lines.length;
    if (Array.isArray(item)) this.writeList(item, indent + INDENT, pointer);
    else this.writeMap(item, indent + INDENT, pointer);
    if (compact) this.lines[mark] = `${pad(indent)}- ${this.lines[mark]!.slice(indent + INDENT)}`;
  }

  /** `[a, b]` for a list of scalars without comments, when it reads back the same; else undefined. */
  private flowList(list: readonly JsonValue[], pointer: Pointer): string | undefined {
    const parts: string[] = [];
    for (let i = 0; i < list.length; i++) {
      const item = list[i]!;
      const child = joinPointer(pointer, i);
      if ((item !== null && typeof item === "object") || this.commentsOf(child).length > 0) return undefined;
      parts.push(typeof item === "string" ? flowString(item, this.mustQuote(item, child, false)) : this.inline(item, child));
    }
    const text = `[${parts.join(", ")}]`;
    return /[\n\r]/.test(text) || !readsBackAs(text, list) ? undefined : text;
  }

  private inline(value: JsonValue, pointer: Pointer): string {
    if (value === null) return "null";
    if (typeof value === "boolean") return value ? "true" : "false";
    if (typeof value === "number") return yamlNumber(value);
    if (typeof value === "string") return this.stringText(value, pointer, false);
    return Array.isArray(value) ? "[]" : "{}";
  }

  /** A string as a key or a block value: as the yaml package writes it when that is one line and safe, else quoted. */
  private stringText(value: string, pointer: Pointer, asKey: boolean): string {
    if (this.mustQuote(value, pointer, asKey)) return doubleQuoted(value);
    const text = scalarText(value);
    const safe = asKey ? readsBackAs(`${text}: 0`, { [value]: 0 }) : readsBackAs(text, value) && readsBackAs(`k: ${text}`, { k: value });
    return !/[\n\r]/.test(text) && safe ? text : doubleQuoted(value);
  }

  /** Strings that YAML 1.2 reads back fine but YAML 1.1 reads differently, and `<<` as a key. */
  private mustQuote(value: string, pointer: Pointer, asKey: boolean): boolean {
    if (asKey && value === "<<") return true;
    if (!asKey && value === "off" && pointer.startsWith(PAB_PREFIX)) return false;
    return yaml11Difference(value, value) !== undefined;
  }

  private commentsOf(pointer: Pointer): string[] {
    const comments = this.tree.nodes.get(pointer)?.comments;
    return comments ? [...comments] : [];
  }

  private pushComments(comments: readonly string[], indent: number): void {
    this.lines.push(...commentLines(comments, indent));
  }
}

/** A string as the yaml package writes it on its own (plain when YAML 1.2 allows, else quoted). */
function scalarText(value: string): string {
  const doc = new Document();
  doc.contents = new Scalar(value);
  return doc.toString(STRINGIFY).replace(/\n$/, "");
}

/** A string as an item of a flow list (where `,`, `[` and `]` matter), as the yaml package writes it. */
function flowString(value: string, quote: boolean): string {
  if (quote) return doubleQuoted(value);
  const seq = new YAMLSeq<Scalar>();
  seq.flow = true;
  seq.items.push(new Scalar(value));
  const doc = new Document();
  doc.contents = seq;
  const text = doc.toString(STRINGIFY).replace(/\n$/, "");
  const item = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  return /[\n\r]/.test(item) ? doubleQuoted(value) : item;
}

/**
 * A double-quoted YAML string on one line: line breaks, and every character that YAML does not allow raw in a
 * stream (controls, lone surrogates, U+FFFE/U+FFFF) or that YAML 1.1 reads as a line break (U+0085, U+2028,
 * U+2029), are escaped; the yaml package would fold a long or multi-line string over several lines instead.
 */
function doubleQuoted(value: string): string {
  let out = '"';
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    const ch = value[i]!;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < value.length && isLowSurrogate(value.charCodeAt(i + 1))) {
      out += ch + value[i + 1]!;
      i++;
    } else if (needsEscape(code)) out += `\\u${code.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

function needsEscape(code: number): boolean {
  if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return true;
  if (code >= 0xd800 && code <= 0xdfff) return true;
  return code === 0x2028 || code === 0x2029 || code === 0xfeff || code === 0xfffe || code === 0xffff;
}

/** Whether `text`, read as YAML 1.2 the way parse-yaml reads it, gives exactly `expected` without complaint. */
function readsBackAs(text: string, expected: unknown): boolean {
  const doc = parseDocument(text, { stringKeys: true, uniqueKeys: true, merge: false, resolveKnownTags: false, prettyErrors: false });
  if (doc.errors.length > 0 || doc.warnings.length > 0) return false;
  try {
    // Printed text holds no aliases; should one appear, toJS refuses it (maxAliasCount 0) and the text is not used.
    return sameValue(doc.toJS({ maxAliasCount: 0 }), expected);
  } catch {
    return false;
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a === "number" && typeof b === "number") return Object.is(a, b) || (a === b && a !== 0);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, i) => sameValue(item, b[i]));
  if (a !== null && b !== null && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    const has = (k: string) => Object.prototype.hasOwnProperty.call(b, k);
    return ka.length === kb.length && ka.every((k) => has(k) && sameValue((a as JsonObject)[k], (b as JsonObject)[k]));
  }
  return a === b;
}

function commentLines(comments: readonly string[], indent: number): string[] {
  const lines: string[] = [];
  for (const comment of comments) {
    for (const line of comment.split(/\r\n|\r|\n/)) {
      const text = line.trimEnd();
      lines.push(text.length > 0 ? `${pad(indent)}# ${text}` : `${pad(indent)}#`);
    }
  }
  return lines;
}

function pad(indent: number): string {
  return " ".repeat(indent);
}

function isNonEmptyObject(value: JsonValue): value is JsonObject {
  return value !== null && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length > 0;
}

function isNonEmptyArray(value: JsonValue): value is JsonValue[] {
  return Array.isArray(value) && value.length > 0;
}

