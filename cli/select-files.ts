/**
 * Which files a `validate` run reads: explicit files, directories (searched recursively for pipeline
 * files), quoted globs (expanded here, so behaviour does not depend on the shell) and `-` for stdin.
 * Nothing is read yet; arguments that match nothing come back as problems for the report.
 */
import { stat } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { glob, isDynamicPattern } from "tinyglobby";
import type { PathProblem } from "./unreadable-report.js";

/** The extensions a directory search picks up. */
export const PIPELINE_EXTENSIONS = ["yaml", "yml", "odit"] as const;

/** Directories never searched: dependencies and version control (dot-directories are skipped as well). */
const IGNORED_DIRECTORIES = ["node_modules", ".git"] as const;

export type PipelineInput =
  | { readonly kind: "file"; /** As the user will see it in reports. */ readonly path: string; readonly absolutePath: string }
  | { readonly kind: "stdin"; /** `--stdin-filename` or `<stdin>`; its extension picks the syntax. */ readonly path: string };

/** An argument that could not be used: `path` is the argument as given. */
export type SelectionProblem = PathProblem;

export interface Selection {
  readonly inputs: readonly PipelineInput[];
  readonly problems: readonly SelectionProblem[];
}

export interface SelectOptions {
  readonly cwd: string;
  /** The name stdin is reported under; its extension picks the syntax. */
  readonly stdinFilename?: string;
}

export const STDIN_LABEL = "<stdin>";

function isIgnoredPath(path: string): boolean {
  return path
    .split(/[\\/]/)
    .filter((segment) => segment !== ".." && segment !== ".")
    .some((segment) => (IGNORED_DIRECTORIES as readonly string[]).includes(segment));
}

async function statOrUndefined(path: string): Promise<Awaited<ReturnType<typeof stat>> | undefined> {
  try {
    return await stat(path);
  } catch {
    return undefined;
  }
}

async function filesInDirectory(directory: string, absoluteDirectory: string): Promise<string[]> {
  const found = await glob(`**/*.{${PIPELINE_EXTENSIONS.join(",")}}`, {
    cwd: absoluteDirectory,
    dot: false,
    onlyFiles: true,
    expandDirectories: false,
    ignore: IGNORED_DIRECTORIES.map((name) => `**/${name}/**`),
  });
  return found.sort().map((relative) => join(directory, relative));
}

async function filesMatchingGlob(pattern: string, cwd: string): Promise<string[]> {
  const found = await glob(pattern, { cwd, dot: false, onlyFiles: true, expandDirectories: false });
  return found
    .filter((path) => !isIgnoredPath(path))
    .sort()
    .map((path) => (isAbsolute(pattern) ? resolve(cwd, path) : path));
}

export async function selectFiles(args: readonly string[], options: SelectOptions): Promise<Selection> {
  const inputs: PipelineInput[] = [];
  const problems: SelectionProblem[] = [];
  const seen = new Set<string>();
  const addFile = (path: string): void => {
    const absolutePath = resolve(options.cwd, path);
    if (seen.has(absolutePath)) return;
    seen.add(absolutePath);
    inputs.push({ kind: "file", path, absolutePath });
  };

  for (const arg of args) {
    if (arg === "-") {
      if (seen.has("\0stdin")) continue;
      seen.add("\0stdin");
      const path = options.stdinFilename ?? STDIN_LABEL;
      inputs.push({ kind: "stdin", path });
      continue;
    }
    const absolute = resolve(options.cwd, arg);
    // An existing path is taken literally even when it contains glob characters.
    const info = await statOrUndefined(absolute);
    if (info?.isDirectory()) {
      const files = await filesInDirectory(arg, absolute);
      if (files.length === 0) {
        problems.push({ path: arg, message: `No pipeline files (*.${PIPELINE_EXTENSIONS.join(", *.")}) in directory \`${arg}\`.` });
      }
      files.forEach(addFile);
    } else if (info) {
      addFile(arg);
    } else if (isDynamicPattern(arg)) {
      const files = await filesMatchingGlob(arg, options.cwd);
      if (files.length === 0) problems.push({ path: arg, message: `No files match the pattern \`${arg}\`.` });
      files.forEach(addFile);
    } else {
      problems.push({ path: arg, message: `No such file or directory: \`${arg}\`.` });
    }
  }
  return { inputs, problems };
}
