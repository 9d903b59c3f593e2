/**
 * The front of the compiler, one file at a time: text -> SourceTree (grammar/) -> schema -> semantic rules.
 * Each stage runs only when the one before it found no errors, because later checks would only report the
 * consequences of earlier mistakes (as JHipster's JDL and Langium do).
 */
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { compareDiagnostics, hasErrors, type Diagnostic } from "../diagnostics/diagnostic.js";
import { parseSource } from "../grammar/parse.js";
import { createSourceFile, type SourceFile } from "../grammar/source.js";
import type { SourceTree } from "../grammar/source-tree.js";
import { checkSpec } from "./check/check.js";
import type { CheckOptions } from "./check/context.js";
import type { Facts } from "./check/facts.js";
import type { Spec } from "./spec/schema.js";
import { validateSchema } from "./spec/validate-schema.js";

export interface ValidateOptions extends Partial<CheckOptions> {
  /** Force a syntax instead of choosing by extension (for stdin). */
  readonly syntax?: "yaml" | "odit";
}

export interface ValidateResult {
  readonly file: SourceFile;
  readonly tree?: SourceTree;
  /** Present when the file passed the schema (semantic errors may remain). */
  readonly spec?: Spec;
  readonly facts?: Facts;
  /** Sorted by position. */
  readonly diagnostics: readonly Diagnostic[];
}

export function validateText(path: string, text: string, options: ValidateOptions = {}): ValidateResult {
  const file = createSourceFile(path, text);
  const parsed = parseSource(file, options.syntax);
  const diagnostics: Diagnostic[] = [...parsed.diagnostics];
  const done = (extra: Partial<ValidateResult> = {}): ValidateResult => ({
    file,
    ...(parsed.tree ? { tree: parsed.tree } : {}),
    ...extra,
    diagnostics: diagnostics.sort(compareDiagnostics),
  });
  if (!parsed.tree || hasErrors(diagnostics)) return done();

  const checked = validateTree(parsed.tree, options);
  diagnostics.push(...checked.diagnostics);
  return done({ ...(checked.spec ? { spec: checked.spec } : {}), ...(checked.facts ? { facts: checked.facts } : {}) });
}

/**
 * The schema and the semantic rules over a tree that parsed without errors; compile() uses it on a tree it
 * has applied its overrides to. Relative paths resolve against the tree's file's directory unless told.
 */
export function validateTree(tree: SourceTree, options: Omit<ValidateOptions, "syntax"> = {}): Omit<ValidateResult, "file" | "tree"> {
  const schema = validateSchema(tree);
  if (!schema.spec) return { diagnostics: schema.diagnostics };

  const checkOptions: CheckOptions = {
    mode: options.mode ?? "validate",
    baseDir: options.baseDir ?? dirname(resolve(tree.file.path)),
    fileExists: options.fileExists ?? existsSync,
    ...(options.gpuProfile !== undefined ? { gpuProfile: options.gpuProfile } : {}),
  };
  const checked = checkSpec(schema.spec, tree, checkOptions);
  return { spec: schema.spec, facts: checked.facts, diagnostics: [...schema.diagnostics, ...checked.diagnostics] };
}
