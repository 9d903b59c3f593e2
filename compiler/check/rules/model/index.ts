/** Rules about the model part of a pipeline, in the order they run. */
import type { Rule } from "../../context.js";
import { ClassLabelRangeRule } from "./ClassLabelRangeRule.js";
import { ConditioningKindRule } from "./ConditioningKindRule.js";
import { DtypeBackendRule } from "./DtypeBackendRule.js";
import { FrameCountRule } from "./FrameCountRule.js";
import { HyperConsistencyRule } from "./HyperConsistencyRule.js";
import { OutputFormatsRule } from "./OutputFormatsRule.js";
import { PreviewEveryStepsRule } from "./PreviewEveryStepsRule.js";
import { PicturesFromPreviewRule } from "./PicturesFromPreviewRule.js";
import { PreviewVaeRule } from "./PreviewVaeRule.js";
import { ResolutionDivisorRule } from "./ResolutionDivisorRule.js";
import { SizeKindRule } from "./SizeKindRule.js";
import { TextEncoderRule } from "./TextEncoderRule.js";
import { UntrainedResolutionRule } from "./UntrainedResolutionRule.js";
import { VaeFamilyRule } from "./VaeFamilyRule.js";
import { VariantKnownRule } from "./VariantKnownRule.js";
import { VariantOrHyperRule } from "./VariantOrHyperRule.js";

export const modelRules: readonly Rule[] = [
  VariantKnownRule,
  VariantOrHyperRule,
  HyperConsistencyRule,
  SizeKindRule,
  ResolutionDivisorRule,
  FrameCountRule,
  ConditioningKindRule,
  ClassLabelRangeRule,
  TextEncoderRule,
  VaeFamilyRule,
  OutputFormatsRule,
  PicturesFromPreviewRule,
  PreviewVaeRule,
  PreviewEveryStepsRule,
  DtypeBackendRule,
  UntrainedResolutionRule,
];
