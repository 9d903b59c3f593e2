/**
 * Turns the `yaml` package's errors and warnings into opendit diagnostics: one clear sentence that keeps the
 * package's own code (BAD_INDENT, MISSING_CHAR, ...) so that it can be looked up, and a hint with the usual fix.
 */
import type { YAMLError } from "yaml";
import type { DiagnosticInit } from "../../diagnostics/diagnostic.js";
import { range } from "../source.js";

interface Wording {
  readonly message: (yamlMessage: string) => string;
  readonly hint?: string;
}

const QUOTE_HINT = "Put the value in quotes when it holds characters that mean something to YAML.";

const wordings: Partial<Record<YAMLError["code"], Wording>> = {
  ALIAS_PROPS: { message: () => "An alias (`*name`) cannot carry a tag or an anchor of its own" },
  BAD_ALIAS: { message: (m) => m },
  BAD_COLLECTION_TYPE: { message: (m) => `The tag does not fit this node: ${lowerFirst(m)}` },
  BAD_DIRECTIVE: { message: (m) => `This directive cannot be used: ${lowerFirst(m)}`, hint: "Remove the directive: pipeline files need none." },
  BAD_DQ_ESCAPE: {
    message: (m) => `${m} in a double-quoted string`,
    hint: "Write a backslash as `\\\\` inside double quotes, or use single quotes, where a backslash is an ordinary character.",
  },
  BAD_INDENT: { message: (m) => m, hint: "Start the entries of one mapping or list at the same column, indenting with spaces." },
  BAD_PROP_ORDER: { message: (m) => m },
  BAD_SCALAR_START: { message: (m) => m.replace(/^Plain value/, "An unquoted value"), hint: QUOTE_HINT },
  BLOCK_AS_IMPLICIT_KEY: { message: (m) => m, hint: "Put the nested entries on their own lines, indented below their key." },
  BLOCK_IN_FLOW: { message: (m) => m, hint: "Inside `[...]` or `{...}` write values on one line, or use an indented block instead." },
  IMPOSSIBLE: { message: (m) => `The YAML parser reached a state it cannot handle: ${lowerFirst(m)}` },
  KEY_OVER_1024_CHARS: { message: () => "A key written without `?` must be shorter than 1024 characters" },
  MISSING_CHAR: { message: missingCharMessage, hint: "Check this line for an unclosed quote or bracket, or a missing `:` or `,`." },
  MULTILINE_IMPLICIT_KEY: {
    message: () => "A key must fit on one line; this text reads as a key that runs over several lines",
    hint: "A line without `key: value` usually lacks its `:`, or belongs to the value above and needs more indentation.",
  },
  MULTIPLE_ANCHORS: { message: (m) => m },
  MULTIPLE_TAGS: { message: (m) => m },
  RESOURCE_EXHAUSTION: {
    message: () => "The document is nested too deeply for the YAML parser",
    hint: "A pipeline nests a few levels deep: look for runaway `[` or `{`.",
  },
  TAB_AS_INDENT: { message: () => "A tab is used for indentation, which YAML does not allow", hint: "Indent with spaces." },
  UNEXPECTED_TOKEN: { message: (m) => unexpectedTokenMessage(m), hint: QUOTE_HINT },
};

/** An unquoted `[` or `{` in a value (a PAB window inside `{ ... }`, say) opens a YAML list or mapping. */
const BRACKET_HINT =
  "A `[` or `{` inside a value starts a YAML list or mapping: quote the whole value, for example " +
  '`temporal: "every 4 in [450, 930]"`.';

/** The diagnostic for one error or warning of the `yaml` package (`severity` "error" makes it OD1001). */
export function yamlErrorDiagnostic(error: YAMLError, textLength: number, severity: "error" | "warning"): DiagnosticInit {
  const start = clamp(error.pos[0], textLength);
  const at = range(start, clamp(error.pos[1], textLength));
  const yamlMessage = firstLine(error.message);
  if (error.code === "TAG_RESOLVE_FAILED") return unknownTag(yamlMessage, at);
  const wording = wordings[error.code];
  const sentence = wording ? wording.message(yamlMessage) : yamlMessage;
  const message = `${upperFirst(sentence.replace(/[.\s]+$/, ""))} (YAML ${error.code}).`;
  const hint = /flow-(seq|map)-start/.test(yamlMessage) ? BRACKET_HINT : wording?.hint;
  return severity === "error"
    ? { code: "OD1001", message, range: at, ...(hint ? { hint } : {}) }
    : { code: "OD1009", message, range: at, ...(hint ? { hint } : {}) };
}

/** An explicit tag that YAML 1.2's core schema does not resolve (`!foo`, `!!binary`, or `!!int abc`). */
function unknownTag(yamlMessage: string, at: { start: number; end: number }): DiagnosticInit {
  const name = /Unresolved tag: (.*)$/.exec(yamlMessage)?.[1] ?? "";
  const core = /^tag:yaml\.org,2002:(str|int|float|bool|null|seq|map)$/.exec(name);
  if (core) {
    return {
      code: "OD1001",
      message: `This value cannot be read as \`!!${core[1]}\`, the tag it is given (YAML TAG_RESOLVE_FAILED).`,
      range: at,
      hint: "Remove the tag, or write a value of the tagged type.",
    };
  }
  const shown = name.startsWith("tag:yaml.org,2002:") ? `!!${name.slice("tag:yaml.org,2002:".length)}` : name;
  return {
    code: "OD1001",
    message:
      `The tag \`${shown}\` is not supported: pipeline files hold plain strings, numbers, booleans, null, ` +
      "lists and mappings (YAML TAG_RESOLVE_FAILED).",
    range: at,
    hint: "Remove the tag and write the plain value.",
  };
}

function missingCharMessage(m: string): string {
  if (/closing "quote/.test(m)) return "A double-quoted string is not closed";
  if (/closing 'quote/.test(m)) return "A single-quoted string is not closed";
  return m;
}

/** yaml's token names, as a person reads them. */
const TOKEN_NAMES: Readonly<Record<string, string>> = {
  "flow-seq-start": "`[`",
  "flow-seq-end": "`]`",
  "flow-map-start": "`{`",
  "flow-map-end": "`}`",
  comma: "`,`",
  "map-value-ind": "`:`",
  "seq-item-ind": "`-`",
  "explicit-key-ind": "`?`",
  scalar: "value",
  anchor: "anchor",
  tag: "tag",
};

/** "Unexpected flow-seq-start at node end" becomes "Unexpected `[` after the end of a value". */
function unexpectedTokenMessage(m: string): string {
  const found = /^Unexpected (\S+?)(?: token)?(?: (at node end|here|in .*))?$/.exec(m);
  if (!found) return m;
  const token = TOKEN_NAMES[found[1]!] ?? found[1]!.replace(/-/g, " ");
  const where = found[2] === "at node end" ? " after the end of a value" : found[2] && found[2] !== "here" ? ` ${found[2]}` : " here";
  return `Unexpected ${token}${where}`;
}

function firstLine(message: string): string {
  const cut = message.indexOf("\n");
  return (cut < 0 ? message : message.slice(0, cut)).replace(/ at line \d+, column \d+:?$/, "").trim();
}

function clamp(offset: number, textLength: number): number {
  return Number.isFinite(offset) ? Math.max(0, Math.min(offset, textLength)) : 0;
}

function upperFirst(s: string): string {
  return s.length > 0 ? s[0]!.toUpperCase() + s.slice(1) : s;
}

function lowerFirst(s: string): string {
  return s.length > 0 ? s[0]!.toLowerCase() + s.slice(1) : s;
}
