/**
 * The flow Euler step table (the `flow-euler` op) for both flow samplers: Open-Sora 1.2's rectified flow
 * (models.md §9.4; t'_i through the resolution and frame-count transform, dt_i = (t'_i − t'_{i+1})/T, the last
 * step to 0) and flow-matching Euler with a shift (diffusers' FlowMatchEulerDiscreteScheduler, the SD3 sampler,
 * models.md §8.2). Both move x ← x + dt·v for a velocity v ≈ x0 − ε, the convention of the flow family here
 * (STDiT3); a model predicting ε − x0 (SD3, Flux) would take −dt.
 */
import type { FlowStep, FlowTable } from "./step-table.js";
import { flowSigmas, type ScheduleInput, type TimestepContext } from "./timesteps.js";

export function flowTable(s: ScheduleInput, ctx: TimestepContext): FlowTable {
  const train = s.train_steps ?? 1000;
  const sigmas = flowSigmas(s, ctx);
  // Open-Sora works on the timestep scale t' = T·σ and divides the difference by T; the flow-matching
  // scheduler works on σ directly. The two differ only in the last bits.
  const timesteps = sigmas.map((sigma) => sigma * train);
  const steps: FlowStep[] = sigmas.map((sigma, i) => {
    const last = i === sigmas.length - 1;
    const sigmaNext = last ? 0 : sigmas[i + 1]!;
    const dt = s.kind === "rflow" ? (timesteps[i]! - (last ? 0 : timesteps[i + 1]!)) / train : sigma - sigmaNext;
    return { index: i, timestep: timesteps[i]!, sigma, sigma_next: sigmaNext, dt };
  });
  return { kind: s.kind, solver: "flow-euler", trainSteps: train, steps };
}
