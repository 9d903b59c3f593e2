/**
 * What a semantic rule sees and how it reports. Rules read the checked Spec and the derived facts; they say
 * where a problem is by JSON Pointer into the Spec (or by an exact range, for a term inside an expression),
 * so no rule ever computes a line or column.
 */
import type { Code } from "../../diagnostics/codes.js";
import type { Severity } from "../../diagnostics/diagnostic.js";
import type { Range } from "../../grammar/source.js";
import type { Pointer, SourceTree } from "../../grammar/source-tree.js";
import type { GpuProfile } from "../hardware/gpus.js";
import type { Spec } from "../spec/schema.js";
import type { Facts } from "./facts.js";

export interface CheckOptions {
  /** `validate` reports a missing checkpoint as a warning; `run` as an error. */
  readonly mode: "validate" | "run";
  /** Directory that relative paths in the file resolve against (the file's own directory). */
  readonly baseDir: string;
  /** Whether a path exists (injected so tests and the fuzz harness need no files). */
  readonly fileExists: (absolutePath: string) => boolean;
  /** A hardware profile of the caller's own, used instead of the one `runtime.gpu` names. */
  readonly gpuProfile?: GpuProfile;
}

export interface Report {
  readonly code: Code;
  /** The Spec node the problem is about. */
  readonly at: Pointer;
  /** Underline the key of the entry instead of its value. */
  readonly part?: "key" | "value";
  /** An exact range inside the node (a term of a layout, a bound of a window); overrides `at`'s span. */
  readonly range?: Range;
  readonly message: string;
  readonly hint?: string;
  readonly suggestions?: readonly string[];
  /** Overrides the code's default severity (used by rules whose severity depends on the mode). */
  readonly severity?: Severity;
}

export interface CheckContext {
  readonly spec: Spec;
  readonly tree: SourceTree;
  readonly facts: Facts;
  readonly options: CheckOptions;
  report(report: Report): void;
}

/** One semantic rule: a name (the file's name) and a check that reports through the context. */
export interface Rule {
  readonly name: string;
  check(ctx: CheckContext): void;
}
