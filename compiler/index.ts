/**
 * opendit's programmatic API. The compiler front: parse and check a pipeline file in either syntax,
 * with diagnostics as data; and the lowering: compile a pipeline to its Plan, or every layout of N ranks (tune).
 */
export { validateText, type ValidateOptions, type ValidateResult } from "./validate.js";
export { SpecSchema, publishedSchema, type Spec } from "./spec/schema.js";
export type { Diagnostic, Severity, RelatedLocation } from "../diagnostics/diagnostic.js";
export { codes, type Code, type CodeInfo } from "../diagnostics/codes.js";
export { familyInfo, knownFamilies } from "./models/registry.js";
export type { ModelFamily, Hyper, WeightInfo, Geometry } from "./models/types.js";
export type { Facts } from "./check/facts.js";
export { GPU_PROFILES, type GpuProfile } from "./hardware/gpus.js";
export { compile, type CompileOptions, type CompileResult, type CompileSource } from "./compile.js";
export { tune, type TuneOptions, type TuneResult, type TunedLayout, type FailedLayout } from "./tune.js";
export { summarizePlan, type PlanSummary, type CollectiveSummary } from "./plan/summary.js";
export { prettyJson, canonicalJson } from "./plan/serialize.js";
export { validLayouts } from "./check/layouts.js";
export type { Plan, PlanCost, PlanDecode, DecodeSplit, DecodeCost } from "./plan/types.js";
