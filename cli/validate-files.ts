/**
 * Reads the selected inputs and validates each one: the path `opendit validate` and the validate benchmark
 * share. A file that cannot be read, or an argument that matched nothing, becomes an OD9002 diagnostic so
 * it shows up in every report format; the run then exits 2.
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { validateText, type ValidateOptions, type ValidateResult } from "../compiler/validate.js";
import { syntaxOf } from "../grammar/parse.js";
import type { FileReport } from "./render/report.js";
import type { PipelineInput, Selection } from "./select-files.js";
import { unreadableReport } from "./unreadable-report.js";

/** The compiler entry point a run uses; injectable so tests can exercise failure paths. */
export type Validator = (path: string, text: string, options: ValidateOptions) => Pick<ValidateResult, "file" | "diagnostics">;

export interface ValidateFilesOptions {
  readonly cwd: string;
  /** Reads standard input; absent when there is none. */
  readonly readStdin?: () => Promise<string>;
  readonly validate?: Validator;
  /** How many files are read at once. */
  readonly readConcurrency?: number;
}

export interface ValidatedFiles {
  readonly files: readonly FileReport[];
  /** How many reports are OD9002 (unreadable or unmatched), which makes the run exit 2. */
  readonly ioProblems: number;
}

type ReadOutcome = { readonly text: string } | { readonly error: string };

const READ_ERROR_REASONS: Readonly<Record<string, string>> = {
  EISDIR: "it is a directory",
  EACCES: "permission denied",
  ENOENT: "it does not exist",
};

function describeReadError(path: string, error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reason = (code !== undefined ? READ_ERROR_REASONS[code] : undefined) ?? (error instanceof Error ? error.message : String(error));
  return `Cannot read \`${path}\`: ${reason}.`;
}

/** A leading byte-order mark is not part of the text a person sees; columns count without it. */
function withoutBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

async function readInput(input: PipelineInput, options: ValidateFilesOptions): Promise<ReadOutcome> {
  try {
    if (input.kind === "stdin") {
      if (!options.readStdin) return { error: "Standard input is not available." };
      return { text: withoutBom(await options.readStdin()) };
    }
    return { text: withoutBom(await readFile(input.absolutePath, "utf8")) };
  } catch (error) {
    return { error: describeReadError(input.path, error) };
  }
}

/** Reads every input with bounded concurrency, keeping the input order. */
async function readAll(inputs: readonly PipelineInput[], options: ValidateFilesOptions): Promise<ReadOutcome[]> {
  const outcomes = new Array<ReadOutcome>(inputs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < inputs.length) {
      const index = next++;
      outcomes[index] = await readInput(inputs[index]!, options);
    }
  };
  const workers = Math.max(1, Math.min(options.readConcurrency ?? 16, inputs.length));
  await Promise.all(Array.from({ length: workers }, worker));
  return outcomes;
}

export async function validateFiles(selection: Selection, options: ValidateFilesOptions): Promise<ValidatedFiles> {
  const validate = options.validate ?? validateText;
  const outcomes = await readAll(selection.inputs, options);
  const files: FileReport[] = [];
  let ioProblems = 0;
  selection.inputs.forEach((input, index) => {
    const outcome = outcomes[index]!;
    if ("error" in outcome) {
      ioProblems++;
      files.push(unreadableReport({ path: input.path, message: outcome.error }));
      return;
    }
    const result = validate(input.path, outcome.text, {
      mode: "validate",
      baseDir: input.kind === "file" ? dirname(input.absolutePath) : dirname(resolve(options.cwd, input.path)),
      // A file's syntax follows its extension; stdin's follows the name it is reported under.
      ...(input.kind === "stdin" ? { syntax: syntaxOf(input.path) } : {}),
    });
    files.push({ path: input.path, source: result.file, diagnostics: result.diagnostics });
  });
  for (const problem of selection.problems) {
    ioProblems++;
    files.push(unreadableReport(problem));
  }
  return { files, ioProblems };
}
