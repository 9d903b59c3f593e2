/**
 * The specified rules, in the order they run. Each rule lives in its own file with a one-sentence doc
 * comment (graphql-js style) and is listed in its group's index.
 */
import type { Rule } from "../context.js";
import { accelerationRules } from "./acceleration/index.js";
import { decodeRules } from "./decode/index.js";
import { modelRules } from "./model/index.js";
import { parallelRules } from "./parallel/index.js";
import { resourceRules } from "./resources/index.js";
import { schedulerRules } from "./scheduler/index.js";

export const specifiedRules: readonly Rule[] = [
  ...modelRules,
  ...schedulerRules,
  ...parallelRules,
  ...accelerationRules,
  ...decodeRules,
  ...resourceRules,
];
