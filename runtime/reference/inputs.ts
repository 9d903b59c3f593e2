/**
 * The run's inputs and how they fill a plan's input buffers (Plan.inputs, compiler/plan/types.ts `PlanInput`).
 *
 * The caller hands over the values of the whole run, sample by sample, as the reference forwards and the golden
 * files hold them (test/reference/make_goldens.py):
 *
 * | source | taken from |
 * | --- | --- |
 * | `noise` | `noise` [samples, C, T, H, W]: the initial latent (a golden's `input.latent`) |
 * | `text` | `text` [samples, L, Ct] (the embeddings file's `y`, a golden's `input.text`); on the unconditional rows of a negative-prompt family `negativeText` (`negative_y`, `input.negative_text`) |
 * | `text-mask` | `textMask` [samples, L] (1 = a real token), for the prompt and for the null caption or negative prompt paired with it |
 * | `null-text` | the checkpoint's stored null caption, the weight named `….y_embedding` [L, Ct], on every row |
 * | `labels` | `labels` [samples] |
 * | `null-labels` | `numClasses` of the model, the extra last row of the class table |
 * | `timestep` | the step table's `timestep` of the step being run, on every row; `timestep` overrides it |
 *
 * An entry fills `rows.count` rows of its buffer from `rows.first` on (a row being everything after the buffer's
 * first axis); row r takes the run's sample shardIndex·count + r, shardIndex being the rank's coordinate on the
 * entry's `samplesShard` axis (0 without one). Entries with a `cfgRank` are filled only by ranks with that cfg
 * coordinate. A `text` entry is the negative prompt's when it fills the unconditional rows: on cfg rank 1
 * (CFG parallel), or rows after the conditional ones (rows.first > 0).
 */
import type { Plan, PlanInput } from "../../compiler/plan/types.js";
import { elementCount, type Memory, type Values } from "./memory.js";

export interface RunInputs {
  /** The initial latent of every sample of the run, [samples, C, T, H, W]. */
  readonly noise?: ArrayLike<number>;
  /** Prompt features [samples, L, Ct]. */
  readonly text?: ArrayLike<number>;
  /** Negative prompt features [samples, L, Ct] (families that guide against a negative prompt). */
  readonly negativeText?: ArrayLike<number>;
  /** The prompts' token masks [samples, L], 1 for a real token and 0 for padding. */
  readonly textMask?: ArrayLike<number>;
  /** Class labels [samples]. */
  readonly labels?: ArrayLike<number>;
  /**
   * The model timestep of every batch row on every step, instead of the step table's (a forward check at one
   * timestep, as the forward goldens are made): one value for all rows, or one per row of the timestep buffer.
   */
  readonly timestep?: number | ArrayLike<number>;
}

type Source = PlanInput["source"];

/** Where an input entry's values come from, named for messages. */
function describe(input: PlanInput): string {
  return `input ${input.source} of buffer ${input.buffer} (rows ${input.rows.first}..${input.rows.first + input.rows.count - 1})`;
}

function bufferOf(mem: Memory, input: PlanInput): { values: Values; shape: readonly number[] } {
  const spec = mem.plan.buffers.find((b) => b.name === input.buffer);
  const values = mem.buffers.get(input.buffer);
  if (!spec || !values) throw new Error(`${describe(input)}: the plan has no buffer ${input.buffer}`);
  const rows = spec.shape[0] ?? 1;
  if (input.rows.first < 0 || input.rows.count < 0 || input.rows.first + input.rows.count > rows) {
    throw new Error(`${describe(input)}: the buffer has ${rows} rows`);
  }
  return { values, shape: spec.shape };
}

/** The rank's index along the entry's sample shard (0 without one). */
function shardIndex(mem: Memory, input: PlanInput): number {
  const shard = input.samplesShard;
  if (!shard || shard.parts === 1) return 0;
  const c = mem.rank.coords[shard.axis];
  if (c === undefined) throw new Error(`${describe(input)}: the rank has no coordinate on ${shard.axis}, which shards the samples`);
  return c;
}

/** Whether this rank fills the entry. */
export function fillsInput(mem: Memory, input: PlanInput): boolean {
  return input.cfgRank === undefined || (mem.rank.coords["cfg"] ?? 0) === input.cfgRank;
}

/** Writes `rows.count` rows of `rowSize` values, row r from `row(r)` (the run sample's values). */
function writeRows(values: Values, first: number, count: number, rowSize: number, row: (r: number) => ArrayLike<number> | number): void {
  for (let r = 0; r < count; r++) {
    const src = row(r);
    const base = (first + r) * rowSize;
    if (typeof src === "number") {
      values.fill(values instanceof Int32Array ? Math.trunc(src) : src, base, base + rowSize);
    } else {
      for (let i = 0; i < rowSize; i++) values[base + i] = src[i] ?? Number.NaN;
    }
  }
}

/** Rows of a per-sample input array of the run: sample s is values[s·rowSize, (s+1)·rowSize). */
function sampleRows(input: PlanInput, name: string, given: ArrayLike<number> | undefined, samples: number, rowSize: number, shard: number): (r: number) => ArrayLike<number> {
  if (!given) throw new Error(`${describe(input)}: the run's inputs have no ${name}`);
  if (given.length !== samples * rowSize) {
    throw new Error(`${describe(input)}: ${name} holds ${given.length} values, not ${samples} samples of ${rowSize}`);
  }
  return (r) => {
    const s = shard * input.rows.count + r;
    if (s >= samples) throw new Error(`${describe(input)}: row ${r} would take sample ${s} of ${samples}`);
    return Array.prototype.slice.call(given, s * rowSize, (s + 1) * rowSize) as number[];
  };
}

/** The stored null caption: the one plan weight whose name ends in `y_embedding`. */
function nullCaption(mem: Memory, input: PlanInput, rowSize: number): Float64Array {
  const names = mem.plan.weights.map((w) => w.name).filter((n) => n === "y_embedding" || n.endsWith(".y_embedding"));
  if (names.length !== 1) throw new Error(`${describe(input)}: the plan reads ${names.length} null-caption weights (…y_embedding), not 1`);
  const name = names[0] as string;
  const w = mem.weights.get(name);
  if (!w) throw new Error(`${describe(input)}: no weight ${name}`);
  if (w.length !== rowSize) throw new Error(`${describe(input)}: ${name} holds ${w.length} values, a row of ${input.buffer} ${rowSize}`);
  return w;
}

function isNegative(input: PlanInput): boolean {
  return input.cfgRank === 1 || input.rows.first > 0;
}

/** The step-independent inputs: everything but `timestep`, written once before the setup program. */
export function fillInputs(mem: Memory, inputs: RunInputs): void {
  const plan = mem.plan;
  const samples = plan.geometry.samples;
  for (const input of plan.inputs) {
    if (input.source === "timestep" || !fillsInput(mem, input)) continue;
    const { values, shape } = bufferOf(mem, input);
    const rowSize = elementCount({ shape: shape.slice(1) });
    const shard = shardIndex(mem, input);
    const rows = (source: Source): ((r: number) => ArrayLike<number> | number) => {
      switch (source) {
        case "noise":
          return sampleRows(input, "noise", inputs.noise, samples, rowSize, shard);
        case "text":
          return isNegative(input)
            ? sampleRows(input, "negativeText", inputs.negativeText, samples, rowSize, shard)
            : sampleRows(input, "text", inputs.text, samples, rowSize, shard);
        case "text-mask":
          return sampleRows(input, "textMask", inputs.textMask, samples, rowSize, shard);
        case "null-text": {
          const w = nullCaption(mem, input, rowSize);
          return () => w;
        }
        case "labels":
          return sampleRows(input, "labels", inputs.labels, samples, rowSize, shard);
        case "null-labels":
          return () => plan.model.hyper.numClasses;
        case "timestep":
          throw new Error(`${describe(input)}: timesteps are written per step`);
      }
    };
    writeRows(values, input.rows.first, input.rows.count, rowSize, rows(input.source));
  }
}

/** Writes this step's model timestep into every `timestep` input (the step table's, unless overridden). */
export function fillTimestep(mem: Memory, step: number, inputs: RunInputs): void {
  const plan = mem.plan;
  const entry = plan.steps[step];
  if (!entry) throw new Error(`the plan has no step ${step} (it has ${plan.steps.length})`);
  for (const input of plan.inputs) {
    if (input.source !== "timestep" || !fillsInput(mem, input)) continue;
    const { values, shape } = bufferOf(mem, input);
    const rowSize = elementCount({ shape: shape.slice(1) });
    const given = inputs.timestep;
    if (given === undefined || typeof given === "number") {
      const t = given ?? entry.schedule.timestep;
      writeRows(values, input.rows.first, input.rows.count, rowSize, () => t);
    } else {
      if (given.length !== input.rows.count) throw new Error(`${describe(input)}: timestep override holds ${given.length} values, not ${input.rows.count}`);
      writeRows(values, input.rows.first, input.rows.count, rowSize, (r) => given[r] ?? Number.NaN);
    }
  }
}

/** The run's inputs of a plan that need values from the caller (for messages and checks). */
export function neededInputs(plan: Plan): (keyof RunInputs)[] {
  const needed = new Set<keyof RunInputs>();
  for (const input of plan.inputs) {
    if (input.source === "noise") needed.add("noise");
    else if (input.source === "text") needed.add(isNegative(input) ? "negativeText" : "text");
    else if (input.source === "text-mask") needed.add("textMask");
    else if (input.source === "labels") needed.add("labels");
  }
  return [...needed].sort();
}
