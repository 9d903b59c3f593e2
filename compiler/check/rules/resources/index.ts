/** Rules about the resources part of a pipeline, in the order they run. */
import type { Rule } from "../../context.js";
import { CheckpointPresentRule } from "./CheckpointPresentRule.js";
import { DevicesCountRule } from "./DevicesCountRule.js";
import { InputFilesPresentRule } from "./InputFilesPresentRule.js";
import { MemoryFitsGpuRule } from "./MemoryFitsGpuRule.js";
import { VaeCheckpointRule } from "./VaeCheckpointRule.js";

export const resourceRules: readonly Rule[] = [CheckpointPresentRule, VaeCheckpointRule, InputFilesPresentRule, MemoryFitsGpuRule, DevicesCountRule];
