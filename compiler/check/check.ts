/** Runs the expression parse and every semantic rule over a schema-valid Spec, collecting diagnostics. */
import type { Diagnostic } from "../../diagnostics/diagnostic.js";
import { createDiagnostic } from "../../diagnostics/diagnostic.js";
import { spanFor, type SourceTree } from "../../grammar/source-tree.js";
import type { Spec } from "../spec/schema.js";
import type { CheckContext, CheckOptions, Report, Rule } from "./context.js";
import { deriveFacts, type Facts } from "./facts.js";
import { specifiedRules } from "./rules/index.js";

export interface CheckResult {
  readonly facts: Facts;
  readonly diagnostics: Diagnostic[];
}

export function checkSpec(spec: Spec, tree: SourceTree, options: CheckOptions, rules: readonly Rule[] = specifiedRules): CheckResult {
  const diagnostics: Diagnostic[] = [];
  const { facts, issues } = deriveFacts(spec, tree, options.gpuProfile);
  for (const issue of issues) {
    diagnostics.push(
      createDiagnostic(tree.file, {
        code: issue.code,
        message: issue.message,
        range: issue.range,
        ...(issue.hint !== undefined ? { hint: issue.hint } : {}),
        ...(issue.suggestions ? { suggestions: issue.suggestions } : {}),
      }),
    );
  }
  const ctx: CheckContext = {
    spec,
    tree,
    facts,
    options,
    report(r: Report) {
      diagnostics.push(
        createDiagnostic(tree.file, {
          code: r.code,
          message: r.message,
          range: r.range ?? spanFor(tree, r.at, r.part),
          ...(r.severity !== undefined ? { severity: r.severity } : {}),
          ...(r.hint !== undefined ? { hint: r.hint } : {}),
          ...(r.suggestions ? { suggestions: r.suggestions } : {}),
        }),
      );
    },
  };
  for (const rule of rules) rule.check(ctx);
  return { facts, diagnostics };
}
