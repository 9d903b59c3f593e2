/** The signature every family's lowering has: it fills the builder in `ctx` and returns the program's head. */
import type { Facts } from "../../check/facts.js";
import type { StepTable } from "../../schedule/step-table.js";
import type { LowerContext } from "../program/context.js";
import type { Head } from "../program/ends.js";

export type FamilyLowering = (ctx: LowerContext, facts: Facts, schedule: StepTable, noiseSeed: number) => Head;
