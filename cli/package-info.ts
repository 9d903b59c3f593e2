/**
 * opendit's own name, version and home page, read from its package.json at run time. The file sits one
 * directory higher from the compiled dist/cli than from the sources cli/, so it is found by walking up.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ToolInfo } from "./render/sarif.js";

interface PackageJson {
  readonly name?: string;
  readonly version?: string;
  readonly homepage?: string;
}

function findPackageJson(): PackageJson {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const parsed = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as PackageJson;
      if (parsed.name === "opendit") return parsed;
    } catch {
      // No package.json here (or not ours): keep walking up.
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error("opendit's package.json was not found above " + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

let cached: ToolInfo | undefined;

export function toolInfo(): ToolInfo {
  if (!cached) {
    const pkg = findPackageJson();
    cached = {
      name: "opendit",
      version: pkg.version ?? "0.0.0",
      informationUri: pkg.homepage ?? "https://www.npmjs.com/package/opendit",
    };
  }
  return cached;
}
