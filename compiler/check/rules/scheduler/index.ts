/** Rules about the scheduler part of a pipeline, in the order they run. */
import type { Rule } from "../../context.js";
import { GuidanceUncondRule } from "./GuidanceUncondRule.js";
import { RflowFramesRule } from "./RflowFramesRule.js";
import { SchedulerFamilyRule } from "./SchedulerFamilyRule.js";
import { SchedulerKnobRule } from "./SchedulerKnobRule.js";
import { SchedulerSettingsRule } from "./SchedulerSettingsRule.js";

export const schedulerRules: readonly Rule[] = [SchedulerKnobRule, SchedulerSettingsRule, RflowFramesRule, SchedulerFamilyRule, GuidanceUncondRule];
