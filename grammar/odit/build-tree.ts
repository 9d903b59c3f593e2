/**
 * The CST visitor that builds the SourceTree's value and spans from a .odit parse without syntax errors.
 * Every node gets a NodeSpan; strings written character for character (bare words, expressions, quoted
 * strings without escapes) get `contentStart`; expressions keep their exact source text as the value, so the
 * checker re-parses them at the right file offset. Duplicate keys (OD1104) are found here.
 */
import type { CstNode, IToken } from "chevrotain";
import type { DiagnosticInit } from "../../diagnostics/diagnostic.js";
import { tokenEnd, tokenRange } from "../expr/syntax-errors.js";
import type { Range, SourceFile } from "../source.js";
import { positionAt } from "../source.js";
import { joinPointer, type JsonValue, type NodeSpan, type Pointer } from "../source-tree.js";
import { decodeString } from "./string-literal.js";

/** A node comments can attach to (an entry or a list item), by where it starts. */
export interface Anchor {
  readonly pointer: Pointer;
  readonly offset: number;
}

export interface BuiltTree {
  readonly value: JsonValue | undefined;
  readonly nodes: Map<Pointer, NodeSpan>;
  /** Sorted by offset (document order). */
  readonly anchors: Anchor[];
  readonly problems: DiagnosticInit[];
}

interface Built {
  readonly value: JsonValue;
  readonly range: Range;
  readonly contentStart?: number;
}

function tokens(node: CstNode, label: string): IToken[] {
  return (node.children[label] ?? []) as IToken[];
}

function nodes(node: CstNode, label: string): CstNode[] {
  return (node.children[label] ?? []) as CstNode[];
}

/** From the first token of a CST node to the end of its last. */
function spanOf(node: CstNode): Range {
  let start = Infinity;
  let end = -Infinity;
  const stack = [node];
  while (stack.length > 0) {
    for (const children of Object.values(stack.pop()!.children)) {
      for (const child of children) {
        if ("image" in child) {
          start = Math.min(start, child.startOffset);
          end = Math.max(end, tokenEnd(child));
        } else stack.push(child);
      }
    }
  }
  return { start, end };
}

function setProperty(target: { [key: string]: JsonValue }, key: string, value: JsonValue): void {
  // defineProperty, not assignment: a key such as `__proto__` must become a plain property.
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

class TreeBuilder {
  readonly nodes = new Map<Pointer, NodeSpan>();
  readonly anchors: Anchor[] = [];
  readonly problems: DiagnosticInit[] = [];

  constructor(private readonly file: SourceFile) {}

  document(cst: CstNode): JsonValue | undefined {
    const whole: Range = { start: 0, end: this.file.text.length };
    const [rootValue] = nodes(cst, "value");
    if (rootValue) {
      const built = this.value(rootValue, "");
      this.nodes.set("", { value: whole, ...(built.contentStart !== undefined ? { contentStart: built.contentStart } : {}) });
      return built.value;
    }
    const blocks = nodes(cst, "entries");
    if (blocks.every((e) => nodes(e, "entry").length === 0)) return undefined;
    const object: { [key: string]: JsonValue } = {};
    const seen = new Map<string, Range>();
    for (const entries of blocks) this.entries(entries, "", object, seen);
    this.nodes.set("", { value: whole });
    return object;
  }

  private entries(node: CstNode, pointer: Pointer, into: { [key: string]: JsonValue }, seen: Map<string, Range>): void {
    for (const entry of nodes(node, "entry")) {
      const keyToken = tokens(entry, "key")[0]!;
      const keyRange = tokenRange(keyToken);
      const key = keyToken.image.startsWith('"') ? decodeString(keyToken.image).value : keyToken.image;
      const valueNode = nodes(entry, "value")[0]!;
      if (!keyToken.image.startsWith('"') && key.endsWith(":")) {
        const written = spanOf(valueNode);
        const text = this.file.text.slice(written.start, written.end);
        const example = text.length <= 40 && !/[\r\n]/.test(text) ? `${key.slice(0, -1)} ${text}` : `${key.slice(0, -1)} ...`;
        this.problems.push({
          code: "OD1102",
          message: `A .odit key is not followed by \`:\`; write \`${example}\`.`,
          range: { start: keyRange.end - 1, end: keyRange.end },
          hint: "entries are written `key value`, separated by a space",
        });
      }
      const first = seen.get(key);
      if (first) {
        this.problems.push({
          code: "OD1104",
          message: `The key \`${key}\` appears twice in this block; it is first set at line ${positionAt(this.file, first.start).line}.`,
          range: keyRange,
          hint: "remove one of the two entries",
          related: [{ range: first, message: `\`${key}\` is first set here` }],
        });
      } else {
        seen.set(key, keyRange);
      }
      const at = joinPointer(pointer, key);
      this.anchors.push({ pointer: at, offset: keyRange.start });
      const built = this.value(valueNode, at);
      setProperty(into, key, built.value);
      this.nodes.set(at, { value: built.range, key: keyRange, ...(built.contentStart !== undefined ? { contentStart: built.contentStart } : {}) });
    }
  }

  private value(node: CstNode, pointer: Pointer): Built {
    const c = node.children;
    if (c["layout"] || c["window"]) return this.expression((c["layout"] ?? c["window"])![0] as CstNode);
    if (c["list"]) return this.list(c["list"][0] as CstNode, pointer);
    if (c["block"]) return this.block(c["block"][0] as CstNode, pointer);
    const token = Object.values(c)[0]![0] as IToken;
    const range = tokenRange(token);
    switch (token.tokenType.name) {
      case "Word":
        return { value: token.image, range, contentStart: range.start };
      case "StringLiteral": {
        const decoded = decodeString(token.image);
        return decoded.escaped ? { value: decoded.value, range } : { value: decoded.value, range, contentStart: range.start + 1 };
      }
      case "NumberLiteral":
        return { value: Number(token.image), range };
      case "True":
        return { value: true, range };
      case "False":
        return { value: false, range };
      default:
        return { value: null, range };
    }
  }

  /** A layout or window: its value is the source text from its first token to its last. */
  private expression(node: CstNode): Built {
    const range = spanOf(node);
    return { value: this.file.text.slice(range.start, range.end), range, contentStart: range.start };
  }

  private list(node: CstNode, pointer: Pointer): Built {
    const items: JsonValue[] = [];
    nodes(node, "value").forEach((item, index) => {
      const at = joinPointer(pointer, index);
      const built = this.value(item, at);
      this.anchors.push({ pointer: at, offset: built.range.start });
      items.push(built.value);
      this.nodes.set(at, { value: built.range, ...(built.contentStart !== undefined ? { contentStart: built.contentStart } : {}) });
    });
    return { value: items, range: this.bracketed(node, "LBracket", "RBracket") };
  }

  private block(node: CstNode, pointer: Pointer): Built {
    const object: { [key: string]: JsonValue } = {};
    this.entries(nodes(node, "entries")[0]!, pointer, object, new Map());
    return { value: object, range: this.bracketed(node, "LCurly", "RCurly") };
  }

  private bracketed(node: CstNode, open: string, close: string): Range {
    return { start: tokens(node, open)[0]!.startOffset, end: tokenEnd(tokens(node, close)[0]!) };
  }
}

/** Builds the tree of a CST that parsed without recognition errors. */
export function buildTree(file: SourceFile, cst: CstNode): BuiltTree {
  const builder = new TreeBuilder(file);
  const value = builder.document(cst);
  const anchors = builder.anchors.sort((a, b) => a.offset - b.offset);
  return { value, nodes: builder.nodes, anchors, problems: builder.problems };
}
