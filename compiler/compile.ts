/**
 * compile(): a pipeline (its text, a file's path and text, or a Spec value) to a Plan, with every problem as a
 * Diagnostic. The stages are validate's (parse, schema, semantic rules), then lowering, which runs only when
 * nothing is in error. It never throws for bad input: a defect inside the compiler becomes an OD9001.
 *
 * Overrides (world, layout, steps, preview_every, gpu) are applied to the parsed tree as if they were written in
 * the file, so the schema and the rules check them exactly like the file's own values. Their positions point into
 * a small text of their own, written as the equivalent command-line flags (`--world 8 --layout "cfg 2 x dsp 4"`)
 * and reported under `overridesPath`; the pipeline's own diagnostics keep their places in the pipeline's text.
 * A Spec value is printed as YAML (grammar/yaml/print-yaml.ts) and checked as that text, so its diagnostics
 * have positions too, in the text returned among `sources`.
 */
import { dirname, resolve } from "node:path";
import { compareDiagnostics, createDiagnostic, hasErrors, type Diagnostic } from "../diagnostics/diagnostic.js";
import { parseSource, syntaxOf } from "../grammar/parse.js";
import { createSourceFile, positionAt, type Position, type Range, type SourceFile } from "../grammar/source.js";
import type { JsonValue, NodeSpan, Pointer, SourceTree } from "../grammar/source-tree.js";
import { printYaml } from "../grammar/yaml/print-yaml.js";
import type { CheckOptions } from "./check/context.js";
import type { Facts } from "./check/facts.js";
import { lowerPlan } from "./lower/lower-plan.js";
import { lowerPab, type PabPlan } from "./lower/pab.js";
import type { Plan } from "./plan/types.js";
import type { Spec } from "./spec/schema.js";
import { validateTree } from "./validate.js";

/** A pipeline: its text (YAML unless `syntax` says otherwise), a file's path and text, or a Spec value. */
export type CompileSource = string | { readonly path: string; readonly text: string } | Spec;

export interface CompileOptions extends Partial<CheckOptions> {
  /** Overrides `parallel.world`. */
  readonly world?: number;
  /** Overrides `parallel.layout`, such as `cfg 2 x dsp 4`. */
  readonly layout?: string;
  /** Overrides `scheduler.steps`. */
  readonly steps?: number;
  /** Overrides `output.preview_every`: a latent preview after every N-th step of a run. */
  readonly previewEvery?: number;
  /** Overrides `runtime.gpu` (h100, h200, a100, l40): the GPU the memory and time estimates are for. */
  readonly gpu?: string;
  /** GPUs per node, for rank placement (default: every rank on one node). Not a Spec value: checked here. */
  readonly ranksPerNode?: number;
  /** Forces the syntax of a text source (by default: YAML, or the path's extension). */
  readonly syntax?: "yaml" | "odit";
  /** The name the overrides' diagnostics are reported under (default `<overrides>`; the CLI's `<command line>`). */
  readonly overridesPath?: string;
}

export interface CompileResult {
  /** Present only when there are no errors. */
  readonly plan?: Plan;
  /** Sorted by file, then position. */
  readonly diagnostics: Diagnostic[];
  /** The texts the diagnostics point into: the pipeline's (printed YAML for a Spec value), then the overrides'. */
  readonly sources: readonly SourceFile[];
  /** The checked Spec with the overrides applied, when it passed the schema. */
  readonly spec?: Spec;
  readonly facts?: Facts;
  /** The PAB compute/reuse schedule the plan's patterns come from (present with `plan`). */
  readonly pab?: PabPlan;
}

/** Where a text source is reported when it has no path of its own. */
const TEXT_PATH = "<input>";
const SPEC_PATH = "<spec>";
const OVERRIDES_PATH = "<overrides>";

/** One override: the flag it is written as, where it goes in the Spec, and its value. */
interface Override {
  readonly flag: string;
  readonly pointer: Pointer;
  readonly value: number | string;
}

/** An override placed in the overrides text: the flag's range (the node's key) and the value's. */
interface PlacedOverride extends Override {
  readonly key: Range;
  readonly range: Range;
  /** Offset of the value's first character when it is written verbatim (a quoted string without escapes). */
  readonly contentStart?: number;
}

function overridesOf(options: CompileOptions): Override[] {
  const list: Override[] = [];
  if (options.world !== undefined) list.push({ flag: "--world", pointer: "/parallel/world", value: options.world });
  if (options.layout !== undefined) list.push({ flag: "--layout", pointer: "/parallel/layout", value: options.layout });
  if (options.steps !== undefined) list.push({ flag: "--steps", pointer: "/scheduler/steps", value: options.steps });
  if (options.previewEvery !== undefined) list.push({ flag: "--preview-every", pointer: "/output/preview_every", value: options.previewEvery });
  if (options.gpu !== undefined) list.push({ flag: "--gpu", pointer: "/runtime/gpu", value: options.gpu });
  return list;
}

/** The overrides as one line of flags, each with the ranges of its flag and its value. */
function placeOverrides(overrides: readonly Override[], ranksPerNode: number | undefined): { text: string; placed: PlacedOverride[]; ranksPerNode?: Range } {
  let text = "";
  const placed: PlacedOverride[] = [];
  const append = (flag: string, value: number | string): { key: Range; range: Range; contentStart?: number } => {
    if (text !== "") text += " ";
    const key = { start: text.length, end: text.length + flag.length };
    text += `${flag} `;
    // A name is written bare (`--gpu h200`); anything with spaces or quotes as a JSON string.
    const bare = typeof value === "string" && /^[\w.-]+$/.test(value);
    const written = typeof value === "string" && !bare ? JSON.stringify(value) : String(value);
    const range = { start: text.length, end: text.length + written.length };
    text += written;
    const verbatim = typeof value === "string" && (bare || written === `"${value}"`);
    return { key, range, ...(verbatim ? { contentStart: range.start + (bare ? 0 : 1) } : {}) };
  };
  for (const o of overrides) placed.push({ ...o, ...append(o.flag, o.value) });
  const rpn = ranksPerNode === undefined ? undefined : append("--ranks-per-node", ranksPerNode).range;
  return { text, placed, ...(rpn ? { ranksPerNode: rpn } : {}) };
}

function isObject(value: JsonValue | undefined): value is { [key: string]: JsonValue } {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * The tree with the overrides written in: each value set at its pointer, its span moved by `base` (where the
 * overrides text starts in the combined file). A section the file lacks is created, spanning the first
 * override in it; a section the file has but not as a mapping is left alone, so the schema reports the file's
 * mistake rather than have the override hide it.
 */
function applyOverrides(tree: SourceTree, file: SourceFile, placed: readonly PlacedOverride[], base: number): SourceTree {
  if (!isObject(tree.value)) return { ...tree, file };
  const root: { [key: string]: JsonValue } = { ...tree.value };
  const nodes = new Map<Pointer, NodeSpan>(tree.nodes);
  const shift = (r: Range): Range => ({ start: r.start + base, end: r.end + base });
  for (const o of placed) {
    const [, section, key] = o.pointer.split("/") as [string, string, string];
    const existing = root[section];
    if (existing !== undefined && !isObject(existing)) continue;
    root[section] = { ...(existing ?? {}), [key]: o.value };
    if (!nodes.has(`/${section}`)) nodes.set(`/${section}`, { key: shift(o.key), value: shift({ start: o.key.start, end: o.range.end }) });
    nodes.set(o.pointer, { key: shift(o.key), value: shift(o.range), ...(o.contentStart !== undefined ? { contentStart: o.contentStart + base } : {}) });
  }
  return { ...tree, file, value: root, nodes };
}

/** A diagnostic at or after `base` in the combined file, moved into the overrides' own text. */
function intoOverrides(d: Diagnostic, base: number, overrides: SourceFile): Diagnostic {
  const move = (p: Position): Position => positionAt(overrides, p.offset - base);
  if (d.start.offset < base) return d;
  return {
    ...d,
    file: overrides.path,
    start: move(d.start),
    end: move(d.end),
    ...(d.related
      ? { related: d.related.map((r) => (r.start.offset < base ? r : { ...r, file: overrides.path, start: move(r.start), end: move(r.end) })) }
      : {}),
  };
}

function isTextAndPath(source: CompileSource): source is { readonly path: string; readonly text: string } {
  return typeof source === "object" && source !== null && typeof (source as { text?: unknown }).text === "string" && typeof (source as { path?: unknown }).path === "string";
}

/** The pipeline as a path and text: a Spec value printed as YAML (a value JSON cannot hold is refused). */
function sourceText(source: CompileSource, options: CompileOptions): { path: string; text: string; syntax: "yaml" | "odit" } | Diagnostic {
  if (typeof source === "string") return { path: TEXT_PATH, text: source, syntax: options.syntax ?? "yaml" };
  if (isTextAndPath(source)) return { path: source.path, text: source.text, syntax: options.syntax ?? syntaxOf(source.path) };
  let value: JsonValue | undefined;
  try {
    value = JSON.parse(JSON.stringify(source) ?? "null") as JsonValue;
  } catch (error) {
    return createDiagnostic(createSourceFile(SPEC_PATH, ""), {
      code: "OD2009",
      message: `The Spec is not a JSON value: ${(error as Error).message}.`,
      range: { start: 0, end: 0 },
      hint: "Pass plain objects, arrays, strings, finite numbers and booleans (no cycles, functions or BigInts).",
    });
  }
  const empty = createSourceFile(SPEC_PATH, "");
  return { path: SPEC_PATH, text: printYaml({ file: empty, syntax: "yaml", value, nodes: new Map() }), syntax: "yaml" };
}

function internalError(file: SourceFile, what: string, error: unknown): Diagnostic {
  return createDiagnostic(file, {
    code: "OD9001",
    message: `${what}: ${error instanceof Error ? error.message : String(error)}`,
    range: { start: 0, end: 0 },
    hint: "opendit could not handle this pipeline; please report it with the pipeline file.",
  });
}

/** Checks a pipeline with the overrides applied and lowers it to a Plan when nothing is in error. */
export function compile(source: CompileSource, options: CompileOptions = {}): CompileResult {
  const input = sourceText(source, options);
  if (!("text" in input)) return { diagnostics: [input], sources: [createSourceFile(SPEC_PATH, "")] };
  const file = createSourceFile(input.path, input.text);
  try {
    return compileFile(file, input.syntax, options);
  } catch (error) {
    return { diagnostics: [internalError(file, "Compiling failed", error)], sources: [file] };
  }
}

function compileFile(file: SourceFile, syntax: "yaml" | "odit", options: CompileOptions): CompileResult {
  const parsed = parseSource(file, syntax);
  const overrides = overridesOf(options);
  const placed = placeOverrides(overrides, options.ranksPerNode);
  const overridesFile = placed.text === "" ? undefined : createSourceFile(options.overridesPath ?? OVERRIDES_PATH, placed.text);
  const sources = overridesFile ? [file, overridesFile] : [file];
  const finish = (diagnostics: Diagnostic[], extra: Omit<CompileResult, "diagnostics" | "sources"> = {}): CompileResult => ({
    ...extra,
    diagnostics: diagnostics.sort(compareDiagnostics),
    sources,
  });
  if (!parsed.tree || hasErrors(parsed.diagnostics)) return finish([...parsed.diagnostics]);

  // The overrides text follows the pipeline's in one file, so one tree holds both; diagnostics past the
  // pipeline's end are moved into the overrides' own file afterwards. A line break keeps the two apart.
  const base = file.text.length + 1;
  const combined = overridesFile ? createSourceFile(file.path, `${file.text}\n${placed.text}`) : file;
  const tree = overridesFile ? applyOverrides(parsed.tree, combined, placed.placed, base) : parsed.tree;
  const checked = validateTree(tree, {
    ...(options.mode !== undefined ? { mode: options.mode } : {}),
    baseDir: options.baseDir ?? (file.path === TEXT_PATH || file.path === SPEC_PATH ? process.cwd() : dirname(resolve(file.path))),
    ...(options.fileExists !== undefined ? { fileExists: options.fileExists } : {}),
    ...(options.gpuProfile !== undefined ? { gpuProfile: options.gpuProfile } : {}),
  });
  const diagnostics = [...parsed.diagnostics, ...checked.diagnostics].map((d) => (overridesFile ? intoOverrides(d, base, overridesFile) : d));
  if (overridesFile && placed.ranksPerNode && !(Number.isSafeInteger(options.ranksPerNode) && options.ranksPerNode! >= 1)) {
    diagnostics.push(
      createDiagnostic(overridesFile, {
        code: "OD2005",
        message: `\`--ranks-per-node\` is ${String(options.ranksPerNode)}; it must be a whole number of at least 1.`,
        range: placed.ranksPerNode,
        hint: "Give the GPUs of one node, such as `--ranks-per-node 8`.",
      }),
    );
  }
  const found = { ...(checked.spec ? { spec: checked.spec } : {}), ...(checked.facts ? { facts: checked.facts } : {}) };
  if (!checked.spec || !checked.facts || hasErrors(diagnostics)) return finish(diagnostics, found);

  try {
    const plan = lowerPlan(checked.spec, checked.facts, options.ranksPerNode !== undefined ? { ranksPerNode: options.ranksPerNode } : {});
    return finish(diagnostics, { ...found, plan, pab: lowerPab(checked.spec, checked.facts) });
  } catch (error) {
    return finish([...diagnostics, internalError(file, "Lowering failed", error)], found);
  }
}
