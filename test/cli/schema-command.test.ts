/** `opendit schema` and the committed schema/pipeline-v1.schema.json, which must stay equal. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { run } from "./support/capture-io.js";
import { fixtureDir, repoFile } from "./support/fixture-dir.js";

const root = fixtureDir({});

describe("opendit schema", () => {
  it("prints the committed schema/pipeline-v1.schema.json (regenerate it with `opendit schema -o` when this fails)", async () => {
    const result = await run(["schema"], { cwd: root });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(repoFile("schema/pipeline-v1.schema.json"));
    const schema = JSON.parse(result.stdout);
    expect(schema.$schema).toBe("http://json-schema.org/draft-07/schema#");
    expect(schema.type).toBe("object");
  });

  it("writes the schema to a file with -o", async () => {
    const result = await run(["schema", "-o", "s.json"], { cwd: root });
    expect(result).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(readFileSync(join(root, "s.json"), "utf8")).toBe(repoFile("schema/pipeline-v1.schema.json"));
  });
});
