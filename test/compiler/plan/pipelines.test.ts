/**
 * Every committed pipeline whose family has a lowering lowers to a plan that the published plan schema accepts
 * (ajv, draft-07, strict) and the plan verifier finds sound, and lowering is deterministic: the same Spec gives
 * byte-identical canonical JSON and the same hash, which is the sha256 of the rest of the plan.
 */
import { describe, expect, it } from "vitest";
import { canonicalJson, sha256 } from "../../../compiler/plan/serialize.js";
import type { Plan } from "../../../compiler/plan/types.js";
import { verifyPlan } from "../../../compiler/plan/verify.js";
import { lowerText, loweringPipelines, planValidator, repoText } from "./lowered.js";

const pipelines = loweringPipelines();

describe("the committed pipelines with a lowering", () => {
  it("include Open-Sora 1.0's, in both syntaxes", () => {
    const paths = pipelines.map((p) => p.path);
    expect(paths).toEqual(expect.arrayContaining(["pipelines/opensora-dsp.yaml", "pipelines/opensora-dsp.odit", "pipelines/opensora-dsp-pab.yaml"]));
  });

  describe.each(pipelines.map((p) => [p.path, p] as const))("%s", (path, pipeline) => {
    // Lowered on first use inside a test, so a pipeline that fails to lower fails its own tests only.
    let lowered: Plan | undefined;
    const lower = (): Plan => (lowered ??= lowerText(path, pipeline.text));

    it("validates against schema/plan-v1.schema.json", () => {
      const validate = planValidator();
      const ok = validate(JSON.parse(JSON.stringify(lower())));
      expect(validate.errors ?? [], path).toEqual([]);
      expect(ok).toBe(true);
    });

    it("passes the plan verifier", () => {
      expect(verifyPlan(lower())).toEqual([]);
    });

    it("lowers to the same bytes and hash every time", () => {
      const plan = lower();
      const again = lowerText(path, pipeline.text);
      expect(canonicalJson(again)).toBe(canonicalJson(plan));
      expect(again.hash).toBe(plan.hash);
      const { hash, ...rest } = plan;
      expect(hash).toBe(sha256(canonicalJson(rest)));
      expect(hash).toMatch(/^[0-9a-f]{64}$/);
    });
  });
});

describe("the .odit and YAML forms of one pipeline", () => {
  it("lower to the same plan", () => {
    const yaml = lowerText("pipelines/opensora-dsp.yaml", repoText("pipelines/opensora-dsp.yaml"));
    const odit = lowerText("pipelines/opensora-dsp.odit", repoText("pipelines/opensora-dsp.odit"));
    expect(odit.hash).toBe(yaml.hash);
  });
});
