/**
 * Where each comment of a YAML file belongs, for `fmt`: a comment line goes to the entry written after it, an
 * end-of-line comment to the entry on its line (so `fmt` moves it above that entry rather than losing it),
 * comments at the top of the file to the document (the `# yaml-language-server: $schema=...` modeline, and
 * anything separated from the first entry by a blank line), and comments after the last entry to the end.
 *
 * Comments are read from the `yaml` package's CST rather than from its node comments: the CST holds every
 * comment with its offset, while node comments get attached in ways (trailing comments of nested collections,
 * comments inside flow collections) that would make some of them disappear.
 */
import type { CST } from "yaml";
import { firstAfter, positionAt, type SourceFile } from "../source.js";
import type { Pointer } from "../source-tree.js";

/** A written entry that comments can attach to: where its key, its `-` or (in flow lists) its value starts. */
export interface EntryAnchor {
  readonly offset: number;
  readonly pointer: Pointer;
}

export interface PlacedComments {
  readonly root: string[];
  readonly entries: Map<Pointer, string[]>;
  readonly trailing: string[];
}

interface CommentToken {
  readonly offset: number;
  readonly text: string;
  readonly line: number;
  readonly ownLine: boolean;
}

const MODELINE = /^\s*yaml-language-server\s*:/;

/**
 * Places the comments found in `tokens` before `endOffset` (the start of a second document, if any).
 * `anchors` are in document order (an outer entry before an inner one that starts at the same offset);
 * `rootStart` is where the document's value starts.
 */
export function placeComments(
  file: SourceFile,
  tokens: readonly CST.Token[],
  endOffset: number,
  anchors: readonly EntryAnchor[],
  rootStart: number,
): PlacedComments {
  const ordered = stableSortByOffset(anchors);
  const comments = collectComments(file, tokens, endOffset);
  const entries = new Map<Pointer, string[]>();
  const leading: CommentToken[] = [];
  const trailing: string[] = [];
  const add = (pointer: Pointer, text: string) => {
    const list = entries.get(pointer);
    if (list) list.push(text);
    else entries.set(pointer, [text]);
  };

  for (const comment of comments) {
    if (!comment.ownLine) {
      const onLine = firstAnchorOnLine(file, ordered, comment);
      if (onLine) {
        add(onLine.pointer, comment.text);
        continue;
      }
    }
    if (comment.offset < rootStart) {
      leading.push(comment);
      continue;
    }
    const next = firstAfter(ordered, comment.offset);
    if (next) add(next.pointer, comment.text);
    else trailing.push(comment.text);
  }

  const root = placeLeading(file, leading, ordered[0], entries);
  return { root, entries, trailing };
}

/** Splits the comments above the document's value between the document itself and its first entry. */
function placeLeading(
  file: SourceFile,
  leading: readonly CommentToken[],
  first: EntryAnchor | undefined,
  entries: Map<Pointer, string[]>,
): string[] {
  if (!first || leading.length === 0) return leading.map((c) => c.text);
  // The group of comment lines that ends directly above the first entry belongs to it ...
  let groupStart = leading.length;
  let expectedLine = positionAt(file, first.offset).line - 1;
  while (groupStart > 0 && leading[groupStart - 1]!.line === expectedLine && leading[groupStart - 1]!.ownLine) {
    groupStart--;
    expectedLine--;
  }
  // ... except a modeline, which is about the whole file, and everything above it.
  for (let i = leading.length - 1; i >= groupStart; i--) {
    if (MODELINE.test(leading[i]!.text)) {
      groupStart = i + 1;
      break;
    }
  }
  const group = leading.slice(groupStart).map((c) => c.text);
  if (group.length > 0) entries.set(first.pointer, [...group, ...(entries.get(first.pointer) ?? [])]);
  return leading.slice(0, groupStart).map((c) => c.text);
}

/** Every comment token of the CST before `endOffset`, in text order (an explicit stack: CSTs can be deep). */
function collectComments(file: SourceFile, tokens: readonly CST.Token[], endOffset: number): CommentToken[] {
  const found = new Map<number, CommentToken>();
  const stack: unknown[] = [...tokens];
  while (stack.length > 0) {
    const item = stack.pop();
    if (Array.isArray(item)) {
      for (const child of item) stack.push(child);
      continue;
    }
    if (item === null || typeof item !== "object") continue;
    const token = item as { type?: unknown; offset?: unknown; source?: unknown };
    if (token.type === "comment" && typeof token.offset === "number" && typeof token.source === "string") {
      if (token.offset < endOffset && !found.has(token.offset)) found.set(token.offset, commentAt(file, token.offset, token.source));
      continue;
    }
    for (const value of Object.values(item)) if (value !== null && typeof value === "object") stack.push(value);
  }
  return [...found.values()].sort((a, b) => a.offset - b.offset);
}

function commentAt(file: SourceFile, offset: number, source: string): CommentToken {
  const position = positionAt(file, offset);
  const lineStart = offset - (position.column - 1);
  const before = file.text.slice(lineStart, offset);
  return {
    offset,
    text: commentText(source),
    line: position.line,
    ownLine: /^[ \t]*$/.test(before),
  };
}

/** The text of a comment without its `#` and the one space that usually follows it. */
export function commentText(source: string): string {
  return source.replace(/^#/, "").replace(/^ /, "").trimEnd();
}

function stableSortByOffset(anchors: readonly EntryAnchor[]): EntryAnchor[] {
  return anchors
    .map((anchor, index) => ({ anchor, index }))
    .sort((a, b) => a.anchor.offset - b.anchor.offset || a.index - b.index)
    .map((entry) => entry.anchor);
}


/** The first entry that starts on the comment's line, before it. */
function firstAnchorOnLine(file: SourceFile, anchors: readonly EntryAnchor[], comment: CommentToken): EntryAnchor | undefined {
  const lineStart = file.lineStarts[comment.line - 1] ?? 0;
  const candidate = firstAfter(anchors, lineStart - 1);
  return candidate && candidate.offset < comment.offset ? candidate : undefined;
}
