/**
 * The SourceTree: what both surface syntaxes (YAML and .odit) produce. It is the plain JSON value of the
 * pipeline plus, for every node, where it was written. Schema validation, semantic rules and `fmt` work on
 * this one shape, so an error found anywhere points back at the user's text in whichever syntax they used.
 */
import type { Range, SourceFile } from "./source.js";

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Where one node of the tree was written. */
export interface NodeSpan {
  /** The value (for a map entry: its value; for the root: the whole document). */
  readonly value: Range;
  /** The key of a map entry, when the node is one. */
  readonly key?: Range;
  /**
   * For a string value written character for character (a plain or quoted scalar without escapes, or .odit
   * expression text): the offset of its first character, so a position inside the string maps to the file.
   */
  readonly contentStart?: number;
  /** Comment lines written directly above the entry (without the comment marker), kept for `fmt`. */
  readonly comments?: readonly string[];
}

/** JSON Pointer (RFC 6901) of a node: "" is the root, "/parallel/layout" a nested entry, "/prompts/0" an item. */
export type Pointer = string;

export interface SourceTree {
  readonly file: SourceFile;
  /** Which surface syntax the tree came from. */
  readonly syntax: "yaml" | "odit";
  /** The document's value; `undefined` when the text held no document at all (empty file). */
  readonly value: JsonValue | undefined;
  readonly nodes: ReadonlyMap<Pointer, NodeSpan>;
  /** Comment lines at the end of the document, after the last entry (kept for `fmt`). */
  readonly trailingComments?: readonly string[];
}

export function escapeSegment(segment: string | number): string {
  return String(segment).replace(/~/g, "~0").replace(/\//g, "~1");
}

export function unescapeSegment(segment: string): string {
  return segment.replace(/~1/g, "/").replace(/~0/g, "~");
}

export function joinPointer(parent: Pointer, segment: string | number): Pointer {
  return `${parent}/${escapeSegment(segment)}`;
}

export function pointerOf(segments: readonly (string | number)[]): Pointer {
  return segments.map((s) => `/${escapeSegment(s)}`).join("");
}

export function splitPointer(pointer: Pointer): string[] {
  if (pointer === "") return [];
  return pointer.slice(1).split("/").map(unescapeSegment);
}

export function parentPointer(pointer: Pointer): Pointer {
  const cut = pointer.lastIndexOf("/");
  return cut <= 0 ? "" : pointer.slice(0, cut);
}

/**
 * The span to underline for a pointer: the node itself when it was written, else the deepest written ancestor
 * (a value that is missing or defaulted is reported where its parent was written).
 */
export function spanFor(tree: SourceTree, pointer: Pointer, part: "key" | "value" = "value"): Range {
  let at: Pointer = pointer;
  for (;;) {
    const node = tree.nodes.get(at);
    if (node) return part === "key" && node.key ? node.key : node.value;
    if (at === "") return { start: 0, end: 0 };
    at = parentPointer(at);
  }
}

/** The value at a pointer, or undefined when no such node exists. */
export function valueAt(root: JsonValue | undefined, pointer: Pointer): JsonValue | undefined {
  let at: JsonValue | undefined = root;
  for (const segment of splitPointer(pointer)) {
    if (Array.isArray(at)) at = at[Number(segment)];
    else if (at !== null && typeof at === "object") at = Object.prototype.hasOwnProperty.call(at, segment) ? at[segment] : undefined;
    else return undefined;
  }
  return at;
}
