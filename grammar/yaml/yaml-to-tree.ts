/**
 * Walks one composed `yaml` document into the parts of a SourceTree: the plain JSON value and, for every node,
 * where it was written. Aliases are resolved into the value here (never through `toJS`), counting each use so
 * that an alias bomb stops after a few dozen expansions; nodes reached through an alias are placed at the
 * alias site. Map keys, merge keys, nesting depth and YAML 1.1 ambiguities are checked on the way.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, type Alias, type CST, type Pair, type Scalar } from "yaml";
import type { DiagnosticInit } from "../../diagnostics/diagnostic.js";
import { positionAt, range, type Range, type SourceFile } from "../source.js";
import { joinPointer, type JsonValue, type Pointer } from "../source-tree.js";
import type { EntryAnchor } from "./yaml-comments.js";
import { yaml11Difference } from "./yaml11-reading.js";

/** Collections nested deeper than this are refused: no pipeline needs it, and deep input can exhaust the stack. */
export const MAX_DEPTH = 64;
/** Alias uses (each expansion counts, nested ones too) allowed in one document. */
export const MAX_ALIAS_USES = 50;

/** A NodeSpan while it is being built (comments are added after the walk). */
export interface NodeSpanDraft {
  value: Range;
  key?: Range;
  contentStart?: number;
  comments?: string[];
}

export interface YamlTreeParts {
  readonly value: JsonValue;
  readonly nodes: Map<Pointer, NodeSpanDraft>;
  /** Written entries in document order, for placing comments. */
  readonly anchors: EntryAnchor[];
  readonly diagnostics: DiagnosticInit[];
  /** Whether the depth limit was hit (the parser's own stack error is then redundant). */
  readonly tooDeep: boolean;
}

/** Where a node sits: its key (map entries), the alias site it was reached through, and a range to fall back on. */
interface Place {
  readonly key?: Range;
  readonly site?: Range;
  readonly fallback: Range;
}

/** `off` is a documented value of PAB windows; under them it is no YAML 1.1 accident. */
const PAB_PREFIX = "/acceleration/pab/";

export function yamlToTree(file: SourceFile, contents: unknown): YamlTreeParts {
  const builder = new TreeBuilder(file);
  const rootRange = builder.rangeOf(contents) ?? range(0, 0);
  const value = builder.visit(contents, "", 0, { fallback: rootRange });
  return {
    value,
    nodes: builder.nodes,
    anchors: builder.anchors,
    diagnostics: builder.diagnostics,
    tooDeep: builder.tooDeep,
  };
}

class TreeBuilder {
  readonly nodes = new Map<Pointer, NodeSpanDraft>();
  readonly anchors: EntryAnchor[] = [];
  readonly diagnostics: DiagnosticInit[] = [];
  tooDeep = false;
  private readonly text: string;
  private readonly anchorNodes = new Map<string, unknown>();
  private readonly expanding = new Set<unknown>();
  private aliasUses = 0;
  private aliasLimitReported = false;

  constructor(private readonly file: SourceFile) {
    this.text = file.text;
  }

  visit(node: unknown, pointer: Pointer, depth: number, place: Place): JsonValue {
    if (isAlias(node)) return this.visitAlias(node, pointer, depth, place);
    const written = place.site ?? this.rangeOf(node) ?? place.fallback;
    if (!place.site) this.registerAnchor(node);
    if (isScalar(node)) return this.visitScalar(node, pointer, written, place);
    if (isMap(node) || isSeq(node) || isPair(node)) {
      this.setSpan(pointer, { value: written, ...(place.key ? { key: place.key } : {}) });
      if (depth >= MAX_DEPTH) {
        this.reportTooDeep(written);
        return null;
      }
      this.expanding.add(node);
      let value: JsonValue;
      try {
        value = isSeq(node)
          ? node.items.map((item, index) => this.visitItem(item, joinPointer(pointer, index), depth, place, written, dashOffset(node, index)))
          : this.visitPairs(isPair(node) ? [node] : node.items, pointer, depth, place);
      } finally {
        this.expanding.delete(node);
      }
      if (!place.site && !(isPair(node) || node.flow)) this.endAtLastChild(pointer, value);
      return value;
    }
    this.setSpan(pointer, { value: written, ...(place.key ? { key: place.key } : {}) });
    return null;
  }

  rangeOf(node: unknown): Range | undefined {
    if (node === null || typeof node !== "object") return undefined;
    const r = (node as { range?: unknown }).range;
    if (!Array.isArray(r) || typeof r[0] !== "number" || typeof r[1] !== "number") return undefined;
    const limit = this.text.length;
    const start = Math.max(0, Math.min(r[0], limit));
    return range(start, Math.max(0, Math.min(r[1], limit)));
  }

  private visitItem(item: unknown, pointer: Pointer, depth: number, place: Place, parent: Range, dash: number | undefined): JsonValue {
    const written = this.rangeOf(item);
    if (!place.site && (dash !== undefined || written)) this.anchors.push({ offset: dash ?? written!.start, pointer });
    return this.visit(item, pointer, depth + 1, {
      ...(place.site ? { site: place.site } : {}),
      fallback: written ?? range(parent.start, parent.start),
    });
  }

  private visitPairs(pairs: readonly unknown[], pointer: Pointer, depth: number, place: Place): JsonValue {
    const object: { [key: string]: JsonValue } = {};
    const seen = new Map<string, Range | undefined>();
    for (const item of pairs) {
      if (!isPair(item)) continue;
      const pair = item as Pair<unknown, unknown>;
      const keyNode = pair.key;
      const keyRange = place.site ? undefined : this.rangeOf(keyNode);
      if (!isScalar(keyNode) || isMissingKey(keyNode)) {
        if (!place.site) this.reportKey(keyNode, keyRange);
        continue;
      }
      const key = typeof keyNode.value === "string" ? keyNode.value : String(keyNode.value);
      if (key === "<<" && keyNode.type === "PLAIN" && !keyNode.tag) {
        if (keyRange) {
          this.diagnostics.push({
            code: "OD1006",
            message: "`<<` is a YAML merge key, which pipeline files do not support.",
            range: keyRange,
            hint: "Write the entries out in full instead of merging them in from an anchor.",
          });
        }
        continue;
      }
      if (seen.has(key)) {
        const first = seen.get(key);
        if (keyRange && first) this.reportDuplicate(key, keyRange, first);
        continue;
      }
      seen.set(key, keyRange);
      const child = joinPointer(pointer, key);
      if (keyRange) this.anchors.push({ offset: keyRange.start, pointer: child });
      const end = keyRange?.end ?? place.site?.start ?? place.fallback.start;
      const value = this.visit(pair.value, child, depth + 1, {
        ...(keyRange ? { key: keyRange } : {}),
        ...(place.site ? { site: place.site } : {}),
        fallback: this.afterColon(end),
      });
      setOwn(object, key, value);
    }
    return object;
  }

  private visitScalar(node: Scalar, pointer: Pointer, written: Range, place: Place): JsonValue {
    const value = scalarValue(node.value);
    const span: NodeSpanDraft = { value: written, ...(place.key ? { key: place.key } : {}) };
    if (!place.site && typeof value === "string") {
      const contentStart = this.contentStart(node, written, value);
      if (contentStart !== undefined) span.contentStart = contentStart;
    }
    this.setSpan(pointer, span);
    if (!place.site && node.type === "PLAIN" && !node.tag) this.checkYaml11(pointer, written, value);
    return value;
  }

  private visitAlias(alias: Alias, pointer: Pointer, depth: number, place: Place): JsonValue {
    const own = this.rangeOf(alias) ?? place.fallback;
    const site = place.site ?? own;
    const setSite = () => this.setSpan(pointer, { value: site, ...(place.key ? { key: place.key } : {}) });
    this.aliasUses++;
    if (this.aliasUses > MAX_ALIAS_USES) {
      if (!this.aliasLimitReported) {
        this.aliasLimitReported = true;
        this.diagnostics.push({
          code: "OD1003",
          message:
            `This alias takes the document past ${MAX_ALIAS_USES} alias uses (counting aliases inside aliased ` +
            "values), the limit that guards against alias bombs.",
          range: site,
          hint: "Write the values out instead of repeating them through anchors and aliases.",
        });
      }
      setSite();
      return null;
    }
    const target = this.anchorNodes.get(alias.source);
    if (target === undefined || this.expanding.has(target)) {
      if (!place.site) {
        this.diagnostics.push({
          code: "OD1001",
          message:
            target === undefined
              ? `The alias \`*${alias.source}\` refers to no anchor \`&${alias.source}\` written before it.`
              : `The alias \`*${alias.source}\` refers to the node that contains it, which would never end.`,
          range: own,
          hint: "Define the anchor (`&name`) on a value above the alias, or write the value out.",
        });
      }
      setSite();
      return null;
    }
    return this.visit(target, pointer, depth, { ...(place.key ? { key: place.key } : {}), site, fallback: site });
  }

  /**
   * Ends a block collection's span where its last entry ends: the `yaml` package's block ranges run on over
   * trailing comments and line breaks, which would make an underline spill onto the next lines.
   */
  private endAtLastChild(pointer: Pointer, value: JsonValue): void {
    const span = this.nodes.get(pointer);
    if (!span || value === null || typeof value !== "object") return;
    const segments: (string | number)[] = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
    const children = segments.map((segment) => joinPointer(pointer, segment));
    let end = span.value.start;
    for (const child of children) {
      const childSpan = this.nodes.get(child);
      if (!childSpan) continue;
      end = Math.max(end, childSpan.value.end, childSpan.key?.end ?? 0);
    }
    if (end > span.value.start && end < span.value.end) span.value = range(span.value.start, end);
  }

  private registerAnchor(node: unknown): void {
    if (node === null || typeof node !== "object") return;
    const anchor = (node as { anchor?: unknown }).anchor;
    if (typeof anchor === "string" && anchor.length > 0) this.anchorNodes.set(anchor, node);
  }

  /** The offset of a string's first character when its source holds it verbatim. */
  private contentStart(node: Scalar, written: Range, value: string): number | undefined {
    if (node.type === "PLAIN") return this.text.slice(written.start, written.end) === value ? written.start : undefined;
    if (node.type === "QUOTE_DOUBLE" || node.type === "QUOTE_SINGLE") {
      if (written.end - written.start < 2) return undefined;
      return this.text.slice(written.start + 1, written.end - 1) === value ? written.start + 1 : undefined;
    }
    return undefined;
  }

  private checkYaml11(pointer: Pointer, written: Range, value: JsonValue): void {
    const source = this.text.slice(written.start, written.end);
    if (source.length === 0 || /[\n\r]/.test(source)) return;
    if (source === "off" && pointer.startsWith(PAB_PREFIX)) return;
    const difference = yaml11Difference(source, value);
    if (difference) this.diagnostics.push({ code: "OD1005", message: difference.message, range: written, hint: difference.hint });
  }

  private reportKey(keyNode: unknown, keyRange: Range | undefined): void {
    if (isScalar(keyNode)) {
      // Only `: value` written as such; elsewhere an empty key is the parser's repair of a syntax error it reports.
      if (keyRange && this.text[keyRange.start] === ":") {
        this.diagnostics.push({
          code: "OD1008",
          message: "This entry has no key: a mapping key must be a plain string.",
          range: range(keyRange.start, keyRange.start + 1),
          hint: "Write the key before the `:`.",
        });
      }
      return;
    }
    const kind = isAlias(keyNode) ? "an alias" : isSeq(keyNode) ? "a list" : isMap(keyNode) ? "a mapping" : "not a string";
    this.diagnostics.push({
      code: "OD1008",
      message: `This mapping key is ${kind}; keys in pipeline files are plain strings.`,
      range: keyRange ?? range(0, 0),
      hint: "Use a plain name as the key, and move any structure into the value.",
    });
  }

  private reportDuplicate(key: string, second: Range, first: Range): void {
    const line = positionAt(this.file, first.start).line;
    this.diagnostics.push({
      code: "OD1002",
      message: `The key \`${key}\` appears twice in this mapping; it was first written on line ${line}.`,
      range: second,
      hint: "Keep one of the two entries: YAML readers would silently keep only one of them.",
      related: [{ range: first, message: `\`${key}\` is first written here.` }],
    });
  }

  private reportTooDeep(written: Range): void {
    if (this.tooDeep) return;
    this.tooDeep = true;
    this.diagnostics.push(tooDeepDiagnostic(written.start, Math.min(written.end, written.start + 1)));
  }

  /** A zero-width range just after the `:` that follows a key ending at `keyEnd` (for empty values). */
  private afterColon(keyEnd: number): Range {
    let at = keyEnd;
    while (at < this.text.length && (this.text[at] === " " || this.text[at] === "\t")) at++;
    const offset = this.text[at] === ":" ? at + 1 : keyEnd;
    return range(offset, offset);
  }

  private setSpan(pointer: Pointer, span: NodeSpanDraft): void {
    if (!this.nodes.has(pointer)) this.nodes.set(pointer, span);
  }
}

/** The error for a collection that starts at `start` more than MAX_DEPTH levels deep. */
export function tooDeepDiagnostic(start: number, end: number): DiagnosticInit {
  return {
    code: "OD1001",
    message: `The document is nested too deeply: more than ${MAX_DEPTH} levels of lists and mappings.`,
    range: range(start, end),
    hint: "A pipeline nests a few levels deep: look for runaway `[` or `{`, or indentation that keeps growing.",
  };
}

/**
 * Where the `-` of a block list's item is (from the CST the parser kept): comments above the dash belong to the
 * item, while in `- - x` or `- key: x` an inner entry starts later on the same line.
 */
function dashOffset(list: { flow?: boolean; srcToken?: unknown }, index: number): number | undefined {
  const token = list.srcToken as CST.BlockSequence | undefined;
  if (list.flow || token?.type !== "block-seq") return undefined;
  return token.items[index]?.start.find((t) => t.type === "seq-item-ind")?.offset;
}

/** An empty implicit key (`: value`), which YAML reads as a null key. */
function isMissingKey(key: Scalar): boolean {
  if (key.type !== "PLAIN" || key.tag) return false;
  const r = key.range;
  return !!r && r[0] === r[1];
}

function scalarValue(value: unknown): JsonValue {
  if (value === null || value === undefined) return null;
  if (typeof value === "string" || typeof value === "boolean" || typeof value === "number") return value;
  if (typeof value === "bigint") return Number(value);
  return String(value);
}

/** Sets a property even when its name is `__proto__`, which plain assignment would turn into a prototype. */
function setOwn(object: { [key: string]: JsonValue }, key: string, value: JsonValue): void {
  if (key === "__proto__") Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  else object[key] = value;
}
