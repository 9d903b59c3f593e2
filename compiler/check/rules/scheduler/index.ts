/** Rules about the scheduler part of a pipeline, in the order they run. */
import type { Rule } from "../../context.js";

export const schedulerRules: readonly Rule[] = [];
