/** Rules about the acceleration part of a pipeline, in the order they run. */
import type { Rule } from "../../context.js";

export const accelerationRules: readonly Rule[] = [];
