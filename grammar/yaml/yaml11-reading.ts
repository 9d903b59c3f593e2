/**
 * How a YAML 1.1 reader resolves a plain (unquoted) scalar, and whether that differs from what YAML 1.2 (what
 * opendit reads) makes of the same text. Pipeline files are shared with Python tooling, and PyYAML is a YAML
 * 1.1 reader: `no` is false there, `1e-4` a string, `010` the octal 8 and `1:30` the number 90. The patterns
 * follow PyYAML's implicit resolvers; `y` and `n` are booleans in the YAML 1.1 spec (though not in PyYAML).
 */
import { withPortableExponent, yamlNumber } from "./yaml-number.js";

export type Yaml11Reading =
  | { readonly kind: "bool"; readonly value: boolean; readonly pyyaml: boolean }
  | { readonly kind: "number"; readonly value: number; readonly form: "decimal" | "octal" | "binary" | "hex" | "base 60" }
  | { readonly kind: "null" }
  | { readonly kind: "timestamp" }
  | { readonly kind: "merge" }
  | { readonly kind: "string" };

const TRUE_11 = /^(?:yes|Yes|YES|true|True|TRUE|on|On|ON)$/;
const FALSE_11 = /^(?:no|No|NO|false|False|FALSE|off|Off|OFF)$/;
const SPEC_ONLY_BOOL = /^(?:y|Y|n|N)$/;
const NULL_11 = /^(?:~|null|Null|NULL|)$/;
const FLOAT_11 =
  /^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;
const INT_11 = /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/;
const TIMESTAMP_11 =
  /^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$/;

/** What a YAML 1.1 reader makes of the plain scalar `text`. */
export function readAsYaml11(text: string): Yaml11Reading {
  if (TRUE_11.test(text)) return { kind: "bool", value: true, pyyaml: true };
  if (FALSE_11.test(text)) return { kind: "bool", value: false, pyyaml: true };
  if (SPEC_ONLY_BOOL.test(text)) return { kind: "bool", value: text === "y" || text === "Y", pyyaml: false };
  if (NULL_11.test(text)) return { kind: "null" };
  if (text === "<<") return { kind: "merge" };
  if (INT_11.test(text)) return readInt11(text);
  if (FLOAT_11.test(text)) {
    const value = readFloat11(text);
    // `._` fits the pattern but holds no digit: PyYAML fails on it, and opendit reads a string.
    if (Number.isNaN(value) && !/nan$/i.test(text)) return { kind: "string" };
    return { kind: "number", value, form: text.includes(":") ? "base 60" : "decimal" };
  }
  if (TIMESTAMP_11.test(text)) return { kind: "timestamp" };
  return { kind: "string" };
}

function readInt11(text: string): Yaml11Reading {
  const negative = text.startsWith("-");
  const digits = text.replace(/^[-+]/, "").replace(/_/g, "");
  const signed = (n: number) => (negative ? -n : n);
  if (digits.includes(":")) return { kind: "number", value: signed(base60(digits)), form: "base 60" };
  if (digits.startsWith("0b")) return { kind: "number", value: signed(parseInt(digits.slice(2) || "0", 2)), form: "binary" };
  if (digits.startsWith("0x")) return { kind: "number", value: signed(parseInt(digits.slice(2) || "0", 16)), form: "hex" };
  if (digits.length > 1 && digits.startsWith("0")) return { kind: "number", value: signed(parseInt(digits, 8)), form: "octal" };
  return { kind: "number", value: signed(parseInt(digits, 10)), form: "decimal" };
}

function readFloat11(text: string): number {
  const plain = text.replace(/_/g, "");
  if (/inf$/i.test(plain)) return plain.startsWith("-") ? -Infinity : Infinity;
  if (/nan$/i.test(plain)) return NaN;
  if (!plain.includes(":")) return Number(plain);
  const negative = plain.startsWith("-");
  const value = base60(plain.replace(/^[-+]/, ""));
  return negative ? -value : value;
}

function base60(digits: string): number {
  const parts = digits.split(":");
  let value = 0;
  for (const part of parts) value = value * 60 + Number(part || "0");
  return value;
}

/** A difference between the YAML 1.2 and YAML 1.1 readings of one plain scalar, in words for a diagnostic. */
export interface Yaml11Difference {
  readonly message: string;
  readonly hint: string;
}

/**
 * Compares the YAML 1.2 value of a plain scalar (`value12`, as opendit read it) with the YAML 1.1 reading of
 * its text; undefined when both readers agree.
 */
export function yaml11Difference(text: string, value12: unknown): Yaml11Difference | undefined {
  const reading = readAsYaml11(text);
  if (agrees(reading, value12)) return undefined;
  const reader = reading.kind === "bool" && !reading.pyyaml ? "YAML 1.1" : "YAML 1.1 (PyYAML)";
  const message = `\`${text}\` is ${describe12(value12)} in YAML 1.2 but ${describe11(reading, text)} in ${reader}.`;
  return { message, hint: hintFor(text, value12, reading) };
}

function agrees(reading: Yaml11Reading, value12: unknown): boolean {
  switch (reading.kind) {
    case "bool":
      return value12 === reading.value;
    case "null":
      return value12 === null;
    case "number":
      return typeof value12 === "number" && (value12 === reading.value || (Number.isNaN(value12) && Number.isNaN(reading.value)));
    case "string":
      return typeof value12 === "string";
    // A plain `<<` value is an error in both readers' eyes or a string; merge keys are reported on their own.
    case "merge":
      return true;
    case "timestamp":
      return false;
  }
}

function describe12(value: unknown): string {
  if (typeof value === "string") return `the string ${JSON.stringify(value)}`;
  if (typeof value === "number") return `the number ${yamlNumber(value)}`;
  if (typeof value === "boolean") return `the boolean ${value}`;
  return "null";
}

function describe11(reading: Yaml11Reading, text: string): string {
  switch (reading.kind) {
    case "bool":
      return `the boolean ${reading.value}`;
    case "null":
      return "null";
    case "number":
      return reading.form === "decimal" ? `the number ${yamlNumber(reading.value)}` : `the ${reading.form} number ${yamlNumber(reading.value)}`;
    case "timestamp":
      return "a date";
    case "merge":
    case "string":
      return `the string ${JSON.stringify(text)}`;
  }
}

function hintFor(text: string, value12: unknown, reading: Yaml11Reading): string {
  const quoted = `"${text}"`;
  if (typeof value12 === "number") {
    const spelling = portableSpelling(text, value12);
    return spelling
      ? `Write \`${spelling}\` so that every reader gets the number, or quote it (\`${quoted}\`) for a string.`
      : `Quote it (\`${quoted}\`) so that every reader gets the same string.`;
  }
  if (typeof value12 === "string") {
    if (reading.kind === "bool") return `Quote it (\`${quoted}\`) to keep the string, or write \`${reading.value}\` for the boolean.`;
    if (reading.kind === "number") {
      return `Quote it (\`${quoted}\`) to keep the string, or write \`${yamlNumber(reading.value)}\` for the number.`;
    }
  }
  return `Quote it (\`${quoted}\`) so that every reader gets the same string.`;
}

/** A spelling of `value` that YAML 1.1 and 1.2 read as the same number, close to how it was written. */
function portableSpelling(text: string, value: number): string | undefined {
  for (const candidate of [withPortableExponent(text), yamlNumber(value)]) {
    if (candidate === undefined) continue;
    const reading = readAsYaml11(candidate);
    if (reading.kind === "number" && (reading.value === value || (Number.isNaN(value) && Number.isNaN(reading.value)))) return candidate;
  }
  return undefined;
}
