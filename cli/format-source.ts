/**
 * What `opendit fmt` does to a text: parse it (by its extension) and print the tree in the wanted syntax, or
 * give back the syntax errors that stop it. A file is formatted when printing it in its own syntax changes
 * nothing.
 */
import { hasErrors, type Diagnostic } from "../diagnostics/diagnostic.js";
import { parseSource, syntaxOf } from "../grammar/parse.js";
import { printOdit } from "../grammar/odit/print-odit.js";
import { createSourceFile, type SourceFile } from "../grammar/source.js";
import { printYaml } from "../grammar/yaml/print-yaml.js";

export type Syntax = "yaml" | "odit";

export type FormatResult =
  | { readonly ok: true; readonly printed: string; readonly unchanged: boolean }
  | { readonly ok: false; readonly source: SourceFile; readonly errors: readonly Diagnostic[] };

export function formatSource(path: string, text: string, to: Syntax = syntaxOf(path)): FormatResult {
  const source = createSourceFile(path, text);
  const parsed = parseSource(source);
  if (!parsed.tree || hasErrors(parsed.diagnostics)) {
    return { ok: false, source, errors: parsed.diagnostics.filter((d) => d.severity === "error") };
  }
  const printed = to === "odit" ? printOdit(parsed.tree) : printYaml(parsed.tree);
  return { ok: true, printed, unchanged: printed === text };
}
