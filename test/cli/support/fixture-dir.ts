/** Temporary directories of pipeline files for CLI tests, removed after each test file. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll } from "vitest";

const REPO = new URL("../../../", import.meta.url);

/** The text of a committed file of the repository (for example `pipelines/quickstart.yaml`). */
export function repoFile(path: string): string {
  return readFileSync(new URL(path, REPO), "utf8");
}

/** The bytes of a committed binary file of the repository (for example `pipelines/quickstart-text.safetensors`). */
export function repoBytes(path: string): Buffer {
  return readFileSync(new URL(path, REPO));
}

/** A fresh directory holding `files` (path -> text or bytes); removed when the test file ends. */
export function fixtureDir(files: Readonly<Record<string, string | Uint8Array>>): string {
  const root = mkdtempSync(join(tmpdir(), "opendit-cli-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}
