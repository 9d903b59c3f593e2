/** Picks the surface syntax by file extension (`.odit` is the DSL, everything else YAML) and parses. */
import type { Diagnostic } from "../diagnostics/diagnostic.js";
import { parseOdit } from "./odit/parse-odit.js";
import type { SourceFile } from "./source.js";
import type { SourceTree } from "./source-tree.js";
import { parseYaml } from "./yaml/parse-yaml.js";

export interface ParseResult {
  /** Present when the text parsed well enough to hold a document (there may still be error diagnostics). */
  readonly tree?: SourceTree;
  readonly diagnostics: Diagnostic[];
}

export function syntaxOf(path: string): "yaml" | "odit" {
  return path.toLowerCase().endsWith(".odit") ? "odit" : "yaml";
}

export function parseSource(file: SourceFile, syntax: "yaml" | "odit" = syntaxOf(file.path)): ParseResult {
  return syntax === "odit" ? parseOdit(file) : parseYaml(file);
}
