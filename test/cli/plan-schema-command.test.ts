/** `opendit schema --plan` and the committed schema/plan-v1.schema.json, which must stay equal. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { run } from "./support/capture-io.js";
import { fixtureDir, repoFile } from "./support/fixture-dir.js";

const root = fixtureDir({});

describe("opendit schema --plan", () => {
  it("prints the committed schema/plan-v1.schema.json (regenerate it with `opendit schema --plan -o` when this fails)", async () => {
    const result = await run(["schema", "--plan"], { cwd: root });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(repoFile("schema/plan-v1.schema.json"));
    const schema = JSON.parse(result.stdout);
    expect(schema.$schema).toBe("http://json-schema.org/draft-07/schema#");
    expect(schema.$id).toBe("https://opendit.dev/schema/plan-v1.schema.json");
    expect(schema.required).toEqual(expect.arrayContaining(["format", "version", "hash", "mesh", "buffers", "program", "steps"]));
  });

  it("writes the plan schema to a file with -o, and leaves the pipeline schema as the default", async () => {
    const result = await run(["schema", "--plan", "-o", "plan.json"], { cwd: root });
    expect(result).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(readFileSync(join(root, "plan.json"), "utf8")).toBe(repoFile("schema/plan-v1.schema.json"));
    const pipeline = await run(["schema"], { cwd: root });
    expect(pipeline.stdout).toBe(repoFile("schema/pipeline-v1.schema.json"));
  });
});
