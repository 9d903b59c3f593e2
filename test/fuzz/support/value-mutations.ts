/**
 * Mutations of a pipeline's value rather than its text: a leaf or subtree replaced by an edge value, a key
 * dropped or renamed, a subtree grafted from another pipeline. The result is written back as block YAML or
 * JSON, so most inputs pass the syntax stage and many pass the schema, reaching the semantic rules with
 * values they rarely see (zero degrees, huge sizes, empty lists).
 */
import fc from "fast-check";
import { stringify } from "yaml";
import type { JsonValue } from "../../../grammar/source-tree.js";

export type ValueEdit =
  | { readonly op: "same-type"; readonly path: number; readonly pick: number }
  | { readonly op: "set"; readonly path: number; readonly value: JsonValue }
  | { readonly op: "drop"; readonly path: number }
  | { readonly op: "rename"; readonly path: number; readonly key: string }
  | { readonly op: "graft"; readonly path: number; readonly from: number };

/** Integers at the edges of what sizes, degrees and steps accept (the schema passes, the rules decide). */
const EDGE_INTEGERS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 24, 28, 32, 48, 64, 100, 127, 1000, 1001, 1024, 4096, 2 ** 31, 2 ** 53 - 1, -1];
const EDGE_STRINGS = [
  "", "cfg 2 x dsp 4", "dsp 8", "dsp 2", "ring 2 x ulysses 2", "ulysses 4 x ring 2", "pipefusion 4 x cfg 2", "cfg 2 x pipefusion 2",
  "dp 2 x cfg 2", "dp 8", "dsp 16", "ulysses 3", "ring 8", "cfg 2", "every 2 in [450, 930]", "every 2 in [0, 1000]",
  "every 5 in [999, 1000]", "every 3 in [100, 101]", "every 1 in [100, 800]", "off", "stdit", "stdit3", "latte", "latte-t2v",
  "pixart", "dit", "opensora-plan", "DiT-XL/2", "STDiT-XL/2", "Latte-1", "random", "none", "h100", "l40", "cpu", "cuda",
  "fp32", "fp16", "bf16", "iddpm", "ddim", "dpm-solver", "rflow", "euler", "sd-vae-ft-ema", "opensora-vae-v1.2", "mp4", "png",
];

const edgeNumber = fc.oneof(
  fc.constantFrom(0, 1, 2, 3, 4, 5, 7, 8, 16, 64, 100, 1000, 1024, 4096, 2 ** 31, 2 ** 53, Number.MAX_VALUE, -1, -0, 0.5, 1e-300),
  fc.integer({ min: -10, max: 2000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

const edgeString = fc.oneof(
  fc.constantFrom(
    "", " ", "cfg 2 x dsp 4", "dsp 8", "ring 2 x ulysses 2", "pipefusion 4 x cfg 2", "dsp 0", "cfg 3", "dp 2 x dp 2", "ulysses 1024",
    "every 2 in [450, 930]", "every 0 in [1, 2]", "every 3 in [900, 100]", "every 1 in [0, 1000]", "off", "stdit", "latte",
    "DiT-XL/2", "STDiT-XL/2", "random", "none", "h100", "cpu",
  ),
  fc.string({ maxLength: 12 }),
);

const leaf: fc.Arbitrary<JsonValue> = fc.oneof(edgeNumber, edgeString, fc.boolean(), fc.constant(null));

const edgeValue: fc.Arbitrary<JsonValue> = fc.oneof(
  { weight: 6, arbitrary: leaf },
  { weight: 1, arbitrary: fc.array(leaf, { maxLength: 5 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.constantFrom("a", "steps", "blocks", "reuse", "world", "layout"), leaf, { maxKeys: 3 }) },
);

export const valueEdits = fc.array(
  fc.oneof(
    { weight: 8, arbitrary: fc.record({ op: fc.constant("same-type" as const), path: fc.nat(), pick: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant("set" as const), path: fc.nat(), value: edgeValue }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("drop" as const), path: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("rename" as const), path: fc.nat(), key: fc.constantFrom("x", "layout", "world", "hyper", "variant") }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("graft" as const), path: fc.nat(), from: fc.nat() }) },
  ),
  { minLength: 1, maxLength: 3 },
);

type Slot = { readonly parent: JsonValue[] | { [key: string]: JsonValue }; readonly key: string | number };

/** Every place in the value a node sits, depth first. */
function slots(value: JsonValue): Slot[] {
  const found: Slot[] = [];
  const walk = (node: JsonValue): void => {
    if (Array.isArray(node)) {
      node.forEach((child, index) => {
        found.push({ parent: node, key: index });
        walk(child);
      });
    } else if (node !== null && typeof node === "object") {
      for (const [key, child] of Object.entries(node)) {
        found.push({ parent: node, key });
        walk(child);
      }
    }
  };
  walk(value);
  return found;
}

function read(slot: Slot): JsonValue {
  return (slot.parent as Record<string | number, JsonValue>)[slot.key]!;
}

/** A value of the same JSON type as `old`, chosen by `pick`: edge integers for integers, known names for strings. */
function sameType(old: JsonValue, pick: number): JsonValue {
  if (typeof old === "number") {
    if (!Number.isInteger(old)) return [0, 0.5, 1, 1.0001, 7.5, 100, 1e-9, 1e300][pick % 8]!;
    return pick % 3 === 0 ? old * 2 : EDGE_INTEGERS[pick % EDGE_INTEGERS.length]!;
  }
  if (typeof old === "string") return EDGE_STRINGS[pick % EDGE_STRINGS.length]!;
  if (typeof old === "boolean") return !old;
  if (Array.isArray(old)) {
    // Shorter, longer (an item repeated) or reversed.
    const mode = pick % 3;
    return mode === 0 ? old.slice(0, pick % (old.length + 1)) : mode === 1 ? [...old, ...old.slice(0, 1)] : [...old].reverse();
  }
  return old;
}

export function applyValueEdits(original: JsonValue, edits: readonly ValueEdit[]): JsonValue {
  const value = structuredClone(original);
  for (const edit of edits) {
    const all = slots(value);
    if (all.length === 0) break;
    const slot = all[edit.path % all.length]!;
    const parent = slot.parent as Record<string | number, JsonValue>;
    if (edit.op === "same-type") parent[slot.key] = sameType(read(slot), edit.pick);
    else if (edit.op === "set") parent[slot.key] = edit.value;
    else if (edit.op === "graft") parent[slot.key] = structuredClone(read(all[edit.from % all.length]!));
    else if (Array.isArray(slot.parent)) {
      if (edit.op === "drop") slot.parent.splice(slot.key as number, 1);
    } else if (edit.op === "drop") delete parent[slot.key];
    else {
      const moved = read(slot);
      delete parent[slot.key];
      parent[edit.key] = moved;
    }
  }
  return value;
}

/** The value as a pipeline file: block YAML or JSON (which is YAML too). */
export function writeValue(value: JsonValue, asJson: boolean): string {
  return asJson ? JSON.stringify(value) : stringify(value);
}
