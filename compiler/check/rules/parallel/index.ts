/** Rules about the parallel part of a pipeline, in the order they run. */
import type { Rule } from "../../context.js";
import { CfgDegreeRule } from "./CfgDegreeRule.js";
import { CfgParallelFamilyRule } from "./CfgParallelFamilyRule.js";
import { CfgParallelGuidanceRule } from "./CfgParallelGuidanceRule.js";
import { DataParallelInputsRule } from "./DataParallelInputsRule.js";
import { DspDivisibilityRule } from "./DspDivisibilityRule.js";
import { DspFamilyRule } from "./DspFamilyRule.js";
import { DspSequenceAxesRule } from "./DspSequenceAxesRule.js";
import { LayoutProductRule } from "./LayoutProductRule.js";
import { PipeFusionCombinationRule } from "./PipeFusionCombinationRule.js";
import { PipeFusionPatchesRule } from "./PipeFusionPatchesRule.js";
import { PipeFusionSettingsRule } from "./PipeFusionSettingsRule.js";
import { PipeFusionStagesRule } from "./PipeFusionStagesRule.js";
import { PipeFusionWarmupRule } from "./PipeFusionWarmupRule.js";
import { SequenceDivisibilityRule } from "./SequenceDivisibilityRule.js";
import { UlyssesHeadsRule } from "./UlyssesHeadsRule.js";

export const parallelRules: readonly Rule[] = [
  LayoutProductRule,
  CfgDegreeRule,
  CfgParallelFamilyRule,
  CfgParallelGuidanceRule,
  UlyssesHeadsRule,
  DspFamilyRule,
  DspSequenceAxesRule,
  DspDivisibilityRule,
  SequenceDivisibilityRule,
  PipeFusionSettingsRule,
  PipeFusionStagesRule,
  PipeFusionPatchesRule,
  PipeFusionWarmupRule,
  PipeFusionCombinationRule,
  DataParallelInputsRule,
];
