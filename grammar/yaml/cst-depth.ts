/**
 * Finds collections nested too deeply in the `yaml` package's CST, before its composer sees them. The
 * composer recurses once per level; thousands of `[` exhaust the stack, and V8 can then fail fatally while
 * compiling a regular expression deep in that recursion, which no `catch` survives. So deep input is refused
 * here, with an explicit stack, and never composed.
 */
import type { CST } from "yaml";

const COLLECTIONS = new Set(["block-map", "block-seq", "flow-collection"]);

/** The offset of the first collection nested more than `maxDepth` levels deep, or undefined. */
export function firstTooDeep(tokens: readonly CST.Token[], maxDepth: number): number | undefined {
  let first: number | undefined;
  const stack: { item: unknown; depth: number }[] = tokens.map((item) => ({ item, depth: 0 }));
  while (stack.length > 0) {
    const { item, depth } = stack.pop()!;
    if (item === null || typeof item !== "object") continue;
    if (Array.isArray(item)) {
      for (const child of item) stack.push({ item: child, depth });
      continue;
    }
    const token = item as { type?: unknown; offset?: unknown };
    let level = depth;
    if (typeof token.type === "string" && COLLECTIONS.has(token.type)) {
      level = depth + 1;
      if (level > maxDepth && typeof token.offset === "number") {
        if (first === undefined || token.offset < first) first = token.offset;
        // Deeper levels can only start later in the text.
        continue;
      }
    }
    for (const value of Object.values(item)) if (value !== null && typeof value === "object") stack.push({ item: value, depth: level });
  }
  return first;
}
