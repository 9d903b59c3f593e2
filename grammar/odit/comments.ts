/**
 * Where each comment of a .odit file belongs, for `fmt` (the same placement the YAML front end uses, so a
 * file keeps its comments when converted either way): a comment line goes to the entry or list item written
 * after it; an end-of-line comment to the first entry starting on its line (fmt prints it above that entry);
 * comments at the top of the file that are separated from the first entry by a blank line go to the document
 * (root); comments after the last entry go to the end of the file.
 */
import type { IToken } from "chevrotain";
import { firstAfter, positionAt, type SourceFile } from "../source.js";
import type { Pointer } from "../source-tree.js";
import type { Anchor } from "./build-tree.js";

export interface PlacedComments {
  readonly root: string[];
  readonly byPointer: Map<Pointer, string[]>;
  readonly trailing: string[];
}

/** The text of a comment without its `#` and the one space that usually follows it. */
export function commentText(image: string): string {
  return image.replace(/^#/, "").replace(/^ /, "").trimEnd();
}


/**
 * `comments` are the lexer's comment tokens, `contentStart` the offset of the first other token (where the
 * document's value starts), `anchors` the tree's entries and items sorted by offset.
 */
export function placeComments(file: SourceFile, comments: readonly IToken[], contentStart: number, anchors: readonly Anchor[]): PlacedComments {
  const byPointer = new Map<Pointer, string[]>();
  const leading: { text: string; line: number }[] = [];
  const trailing: string[] = [];
  const add = (pointer: Pointer, text: string) => {
    const list = byPointer.get(pointer);
    if (list) list.push(text);
    else byPointer.set(pointer, [text]);
  };
  for (const comment of comments) {
    const text = commentText(comment.image);
    const position = positionAt(file, comment.startOffset);
    const lineStart = comment.startOffset - (position.column - 1);
    const ownLine = /^\s*$/.test(file.text.slice(lineStart, comment.startOffset));
    if (!ownLine) {
      const onLine = firstAfter(anchors, lineStart - 1);
      if (onLine && onLine.offset < comment.startOffset) {
        add(onLine.pointer, text);
        continue;
      }
    }
    if (comment.startOffset < contentStart) {
      leading.push({ text, line: position.line });
      continue;
    }
    const next = firstAfter(anchors, comment.startOffset);
    if (next) add(next.pointer, text);
    else trailing.push(text);
  }
  // The group of comment lines that ends directly above the first entry belongs to it; the rest is the file's.
  const first = anchors[0];
  let groupStart = leading.length;
  if (first) {
    let expectedLine = positionAt(file, first.offset).line - 1;
    while (groupStart > 0 && leading[groupStart - 1]!.line === expectedLine) {
      groupStart--;
      expectedLine--;
    }
    const group = leading.slice(groupStart).map((c) => c.text);
    if (group.length > 0) byPointer.set(first.pointer, [...group, ...(byPointer.get(first.pointer) ?? [])]);
  }
  return { root: leading.slice(0, groupStart).map((c) => c.text), byPointer, trailing };
}
