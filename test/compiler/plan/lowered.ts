/**
 * Plans for the plan tests: the committed pipelines whose family has a lowering, specs derived from them with
 * another layout, the published plan schema compiled by ajv as a consumer would (draft-07, strict), and small
 * helpers to mutate a plan and to pick its ops apart.
 */
import { readdirSync, readFileSync } from "node:fs";
import { Ajv, type ValidateFunction } from "ajv";
import { parse, stringify } from "yaml";
import { expect } from "vitest";
import { familyLowerings } from "../../../compiler/lower/families/index.js";
import { lowerPlan } from "../../../compiler/lower/lower-plan.js";
import type { Op } from "../../../compiler/plan/ops.js";
import { canonicalJson, sha256 } from "../../../compiler/plan/serialize.js";
import type { Plan } from "../../../compiler/plan/types.js";
import type { Family } from "../../../compiler/spec/schema.js";
import { validateText, type ValidateResult } from "../../../compiler/validate.js";

const REPO = new URL("../../../", import.meta.url);

export function repoText(path: string): string {
  return readFileSync(new URL(path, REPO), "utf8");
}

/** Validates a pipeline (files are taken to exist) and asserts the checker accepts it. */
export function checked(path: string, text: string): Required<Pick<ValidateResult, "spec" | "facts">> {
  const r = validateText(path, text, { fileExists: () => true });
  const errors = r.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`);
  expect(errors, path).toEqual([]);
  expect(r.spec && r.facts, path).toBeTruthy();
  return { spec: r.spec!, facts: r.facts! };
}

export function lowerText(path: string, text: string): Plan {
  const { spec, facts } = checked(path, text);
  return lowerPlan(spec, facts);
}

export function hasLowering(family: Family): boolean {
  return familyLowerings[family] !== undefined;
}

export interface PipelineFile {
  readonly path: string;
  readonly text: string;
  readonly family: Family;
}

/** Every committed pipeline (YAML and .odit) whose model family has a lowering. */
export function loweringPipelines(): PipelineFile[] {
  const files = readdirSync(new URL("pipelines/", REPO))
    .filter((f) => f.endsWith(".yaml") || f.endsWith(".odit"))
    .sort();
  const out: PipelineFile[] = [];
  for (const file of files) {
    const path = `pipelines/${file}`;
    const text = repoText(path);
    const family = validateText(path, text, { fileExists: () => true }).spec?.model.family;
    if (family && hasLowering(family)) out.push({ path, text, family });
  }
  return out;
}

/** The parsed document of a committed YAML pipeline. */
export function pipelineDocument(file: string): Record<string, unknown> {
  return parse(repoText(`pipelines/${file}`)) as Record<string, unknown>;
}

/** A committed YAML pipeline with some top-level sections replaced (acceleration dropped unless given). */
export function derivedPipeline(file: string, changes: Readonly<Record<string, unknown>>): string {
  const doc = pipelineDocument(file);
  delete doc.acceleration;
  return stringify({ ...doc, ...changes });
}

let compiled: ValidateFunction | undefined;

/** The committed schema/plan-v1.schema.json, compiled the way an outside consumer would. */
export function planValidator(): ValidateFunction {
  if (!compiled) {
    const ajv = new Ajv({ strict: true, strictRequired: true, strictTypes: true, strictTuples: true, allErrors: true });
    compiled = ajv.compile(JSON.parse(repoText("schema/plan-v1.schema.json")) as object);
  }
  return compiled;
}

/** A type with every `readonly` taken off, at every depth (a plan parsed from JSON, to mutate). */
export type Mutable<T> = T extends object ? { -readonly [K in keyof T]: Mutable<T[K]> } : T;

/** A mutable deep copy of a plan, as parsed from its JSON. */
export function thaw(plan: Plan): Mutable<Plan> {
  return JSON.parse(JSON.stringify(plan)) as Mutable<Plan>;
}

/** The plan with its hash recomputed, so that a mutation is caught for what it changed, not for the hash. */
export function rehash(plan: Mutable<Plan> | Plan): Plan {
  const { hash: _old, ...rest } = plan;
  return { ...rest, hash: sha256(canonicalJson(rest)) } as Plan;
}

export type OpOf<N extends Op["op"]> = Extract<Op, { op: N }>;

export function opsOf<N extends Op["op"]>(ops: readonly Op[], name: N): OpOf<N>[] {
  return ops.filter((o): o is OpOf<N> => o.op === name);
}
