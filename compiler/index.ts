/**
 * opendit's programmatic API. The compiler front: parse and check a pipeline file in either syntax,
 * with diagnostics as data.
 */
export { validateText, type ValidateOptions, type ValidateResult } from "./validate.js";
export { SpecSchema, publishedSchema, type Spec } from "./spec/schema.js";
export type { Diagnostic, Severity, RelatedLocation } from "../diagnostics/diagnostic.js";
export { codes, type Code, type CodeInfo } from "../diagnostics/codes.js";
export { familyInfo, knownFamilies } from "./models/registry.js";
export type { ModelFamily, Hyper, WeightInfo, Geometry } from "./models/types.js";
export type { Facts } from "./check/facts.js";
export { GPU_PROFILES, type GpuProfile } from "./hardware/gpus.js";
