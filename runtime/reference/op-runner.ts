/** What every op of the reference interpreter is: a function of the op's data and the rank's memory. */
import type { Op } from "../../compiler/plan/ops.js";
import type { Memory } from "./memory.js";

export type OpRunner<O extends Op = Op> = (op: O, mem: Memory) => void;
