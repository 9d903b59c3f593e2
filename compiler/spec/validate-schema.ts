/**
 * Schema validation of a SourceTree's value with ajv (draft-07, strict, all errors), turned into opendit
 * diagnostics: one per root cause, placed on the key or value the error is about, with did-you-mean for
 * unknown keys and names.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import type { Code } from "../../diagnostics/codes.js";
import { createDiagnostic, type Diagnostic } from "../../diagnostics/diagnostic.js";
import { didYouMean, suggest } from "../../diagnostics/did-you-mean.js";
import { joinPointer, spanFor, splitPointer, type JsonValue, type SourceTree } from "../../grammar/source-tree.js";
import { SpecSchema, type Spec } from "./schema.js";

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  if (!compiled) {
    const ajv = new Ajv({ strict: true, strictRequired: true, strictTypes: true, allErrors: true, verbose: true });
    compiled = ajv.compile(SpecSchema);
  }
  return compiled;
}

/** `model.hyper.heads`, `conditioning.prompts[0]`, or `the file` for the root. */
export function displayPath(pointer: string): string {
  const parts = splitPointer(pointer);
  if (parts.length === 0) return "the file";
  let out = "";
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out === "" ? p : `.${p}`;
  return out;
}

function typeName(v: unknown): string {
  if (v === null) return "empty";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v)}`;
  if (typeof v === "number") return Number.isInteger(v) ? `the integer ${v}` : `the number ${v}`;
  return `${typeof v} ${String(v)}`;
}

function expectedType(t: unknown): string {
  const names: Record<string, string> = {
    object: "a mapping",
    array: "a list",
    string: "a string",
    integer: "a whole number",
    number: "a number",
    boolean: "true or false",
  };
  return Array.isArray(t) ? t.map((x) => names[String(x)] ?? String(x)).join(" or ") : (names[String(t)] ?? String(t));
}

export interface Placed {
  code: Code;
  pointer: string;
  part: "key" | "value";
  message: string;
  hint?: string;
  suggestions?: string[];
}

/** One ajv error as an opendit diagnostic: its code, where it belongs and what to say. */
export function describeSchemaError(e: ErrorObject): Placed {
  const at = e.instancePath;
  const where = displayPath(at);
  const schema = e.parentSchema as { description?: string; properties?: Record<string, { description?: string }> } | undefined;
  switch (e.keyword) {
    case "additionalProperties": {
      const key = String((e.params as { additionalProperty: string }).additionalProperty);
      const known = Object.keys(schema?.properties ?? {});
      const found = suggest(key, known);
      return {
        code: "OD2001",
        pointer: joinPointer(at, key),
        part: "key",
        message: `Unknown key \`${key}\` in ${where === "the file" ? "the file's top level" : `\`${where}\``}.${didYouMean(key, known)}`,
        hint: found.length > 0 ? `rename it to \`${found[0]}\`` : `keys allowed here: ${known.join(", ")}`,
        suggestions: found,
      };
    }
    case "required": {
      const key = String((e.params as { missingProperty: string }).missingProperty);
      const desc = schema?.properties?.[key]?.description;
      return {
        code: "OD2002",
        pointer: at,
        part: "key",
        message: `Missing key \`${key}\` in ${where === "the file" ? "the file" : `\`${where}\``}.`,
        ...(desc ? { hint: `add \`${key}\`: ${desc}` } : {}),
      };
    }
    case "type":
      return {
        code: "OD2003",
        pointer: at,
        part: "value",
        message: `\`${where}\` must be ${expectedType((e.params as { type: unknown }).type)}, not ${typeName(e.data)}.`,
      };
    case "enum": {
      const allowed = ((e.params as { allowedValues: unknown[] }).allowedValues ?? []).map(String);
      const found = typeof e.data === "string" ? suggest(e.data, allowed) : [];
      return {
        code: "OD2004",
        pointer: at,
        part: "value",
        message: `Unknown value ${JSON.stringify(e.data)} for \`${where}\`.${typeof e.data === "string" ? didYouMean(e.data, allowed) : ""}`,
        hint: `one of: ${allowed.join(", ")}`,
        suggestions: found,
      };
    }
    case "const":
      return {
        code: at === "/version" ? "OD2010" : "OD2009",
        pointer: at,
        part: "value",
        message: `\`${where}\` must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}, not ${JSON.stringify(e.data)}.`,
        ...(at === "/version" ? { hint: "write `version: 1`" } : {}),
      };
    case "minimum":
    case "maximum":
    case "exclusiveMinimum":
    case "exclusiveMaximum": {
      const p = e.params as { comparison: string; limit: number };
      return {
        code: "OD2005",
        pointer: at,
        part: "value",
        message: `\`${where}\` must be ${p.comparison} ${p.limit}, not ${JSON.stringify(e.data)}.`,
      };
    }
    case "pattern": {
      const description = (e.parentSchema as { description?: string } | undefined)?.description;
      return {
        code: "OD2006",
        pointer: at,
        part: "value",
        message: `\`${where}\` has the wrong form (${JSON.stringify(e.data)}): ${description ?? `it must match ${String(e.schema)}`}`,
      };
    }
    case "minItems":
    case "maxItems":
    case "minLength":
    case "maxLength": {
      const p = e.params as { limit: number };
      const what = e.keyword.endsWith("Items") ? "item" : "character";
      const bound = e.keyword.startsWith("min") ? "at least" : "at most";
      return {
        code: "OD2007",
        pointer: at,
        part: "value",
        message: `\`${where}\` must have ${bound} ${p.limit} ${what}${p.limit === 1 ? "" : "s"}.`,
      };
    }
    case "uniqueItems": {
      const p = e.params as { i: number; j: number };
      const list = e.data as unknown[];
      return {
        code: "OD2008",
        pointer: joinPointer(at, Math.max(p.i, p.j)),
        part: "value",
        message: `\`${where}\` lists ${JSON.stringify(list[Math.max(p.i, p.j)])} twice (items ${Math.min(p.i, p.j)} and ${Math.max(p.i, p.j)}).`,
        hint: "remove the repeated item",
      };
    }
    default:
      return { code: "OD2009", pointer: at, part: "value", message: `\`${where}\` ${e.message ?? "does not match the schema"}.` };
  }
}

export interface SchemaResult {
  /** The typed Spec, present only when the value passed the schema. */
  readonly spec?: Spec;
  readonly diagnostics: Diagnostic[];
}

/**
 * The errors of a value against a union (`anyOf`, such as `vae.tiling`: true, false or a mapping) as one cause:
 * where the value has the type of an alternative, only that alternative's errors (say a tile out of range);
 * where it has none of the types, one error naming them all. ajv reports every alternative's errors and the
 * `anyOf` itself, which would give a person three messages for one mistake.
 */
export function rootCauses(errors: readonly ErrorObject[]): ErrorObject[] {
  const dropped = new Set<ErrorObject>();
  const out: ErrorObject[] = [];
  for (const union of errors.filter((e) => e.keyword === "anyOf")) {
    const prefix = `${union.schemaPath}/`;
    const branches = new Map<string, ErrorObject[]>();
    for (const e of errors) {
      if (!e.schemaPath.startsWith(prefix)) continue;
      const branch = e.schemaPath.slice(prefix.length).split("/")[0]!;
      branches.set(branch, [...(branches.get(branch) ?? []), e]);
    }
    const typed = [...branches.values()].filter((list) => !list.some((e) => e.keyword === "type" && e.instancePath === union.instancePath));
    for (const list of branches.values()) for (const e of list) dropped.add(e);
    dropped.add(union);
    if (typed.length > 0) {
      for (const e of typed.flat()) dropped.delete(e);
    } else {
      const types = [...branches.values()].flatMap((list) => list.filter((e) => e.keyword === "type" && e.instancePath === union.instancePath));
      const first = types[0];
      if (first) out.push({ ...first, params: { type: [...new Set(types.map((e) => (e.params as { type: string }).type))] } });
    }
  }
  return [...errors.filter((e) => !dropped.has(e)), ...out];
}

export function validateSchema(tree: SourceTree): SchemaResult {
  const value: JsonValue | undefined = tree.value;
  const validate = validator();
  if (validate(value)) return { spec: value as unknown as Spec, diagnostics: [] };
  const seen = new Set<string>();
  const diagnostics: Diagnostic[] = [];
  for (const e of rootCauses(validate.errors ?? [])) {
    const placed = describeSchemaError(e);
    const key = `${placed.code}|${placed.pointer}|${placed.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    diagnostics.push(
      createDiagnostic(tree.file, {
        code: placed.code,
        message: placed.message,
        range: spanFor(tree, placed.pointer, placed.part),
        ...(placed.hint !== undefined ? { hint: placed.hint } : {}),
        ...(placed.suggestions ? { suggestions: placed.suggestions } : {}),
      }),
    );
  }
  return { diagnostics };
}
