/**
 * What the parallel rules share: finding a layout term, placing a report on it, and wording numbers and
 * lists the same way in every message.
 */
import type { Axis, LayoutTerm } from "../../../../grammar/expr/types.js";
import type { Range } from "../../../../grammar/source.js";
import type { CheckContext, Report } from "../../context.js";

export const LAYOUT_AT = "/parallel/layout";

/** The term that sets an axis (the last one, as the degrees take it), when the layout parsed and names it. */
export function termOf(ctx: CheckContext, axis: Axis): LayoutTerm | undefined {
  const terms = ctx.facts.layout?.terms ?? [];
  for (let i = terms.length - 1; i >= 0; i--) if (terms[i]!.axis === axis) return terms[i];
  return undefined;
}

/** `axis degree`, as a term is written canonically. */
export function termText(term: { readonly axis: Axis; readonly degree: number }): string {
  return `${term.axis} ${term.degree}`;
}

/**
 * Reports on a range inside the layout string. Offsets inside a string written with escapes do not map to
 * the file, so then the whole layout value is underlined instead.
 */
export function reportInLayout(ctx: CheckContext, range: Range, report: Omit<Report, "at" | "range">): void {
  const verbatim = ctx.tree.nodes.get(LAYOUT_AT)?.contentStart !== undefined;
  ctx.report({ ...report, at: LAYOUT_AT, ...(verbatim ? { range } : {}) });
}

/** The smallest range covering all the given ones. */
export function cover(ranges: readonly Range[]): Range {
  return { start: Math.min(...ranges.map((r) => r.start)), end: Math.max(...ranges.map((r) => r.end)) };
}

/** How the model is named in messages: its variant, else the family's title. */
export function modelName(ctx: CheckContext): string {
  const { model } = ctx.spec;
  if (model.variant !== undefined) return model.variant;
  const title = ctx.facts.family?.title ?? model.family;
  return model.hyper !== undefined ? `the custom ${title} model` : (Object.keys(ctx.facts.family?.variants ?? {})[0] ?? title);
}

/** "a", "a or b", "a, b or c" (or with another word: "a and b", "a nor b"). */
export function joinOr(items: readonly string[], word = "or"): string {
  return items.length <= 1 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} ${word} ${items[items.length - 1]}`;
}

/** "`a`", "`a` or `b`", "`a`, `b` or `c`". */
export function orList(items: readonly (string | number)[]): string {
  return joinOr(items.map((i) => `\`${i}\``));
}

/** The sentence with its first letter upper case. */
export function capitalise(s: string): string {
  return s.length > 0 ? s[0]!.toUpperCase() + s.slice(1) : s;
}

/** A share as a percentage with one decimal: 0.0625 -> "6.3%". */
export function percent(share: number): string {
  return `${(Math.round(share * 1000) / 10).toFixed(1)}%`;
}

/** The values closest to `target` first (ties: the smaller first), at most `max`. */
export function nearest(values: readonly number[], target: number, max: number): number[] {
  return [...values].sort((a, b) => Math.abs(a - target) - Math.abs(b - target) || a - b).slice(0, max);
}

/** Alternative fixes as one hint: "Use x; or set y; or set z." */
export function alternatives(fixes: readonly string[]): string {
  return `${fixes.map((f, i) => (i === 0 ? capitalise(f) : `or ${f}`)).join("; ")}.`;
}
