/**
 * The plan's step table (DESIGN.md, "The Plan": `steps`): per sampler step, in sampling order, the timestep the
 * model is fed and the coefficients of the one native update op of the sampler's family. Every number is the
 * float64 value of the reference formula (models.md §7–§9); the runtime converts. Coefficient names are those of
 * the formula or reference variable they come from, so a reader can check each against its source.
 */
import type { SchedulerKind } from "../spec/schema.js";

/** The native update op families. */
export type Solver = "ddpm" | "ddim" | "dpmpp2m" | "flow-euler";

interface StepBase {
  /** Position in sampling order, 0 = the first step (pure noise). */
  readonly index: number;
  /** What the model's timestep embedder is fed at this step. */
  readonly timestep: number;
}

/**
 * IDDPM ancestral step with learned-range variance, on the respaced process (models.md §9.1):
 *   x0   = sqrt_recip_alphas_cumprod·x − sqrt_recipm1_alphas_cumprod·ε
 *   mean = posterior_mean_coef1·x0 + posterior_mean_coef2·x
 *   logv = f·log_beta + (1 − f)·posterior_log_variance_clipped,  f = (v + 1)/2  (v: the model's variance half)
 *   x    ← mean + [add_noise]·exp(logv/2)·z
 * A model without a variance half samples with IDDPM's fixed-large variance, which is logv = log_beta on every
 * step that adds noise.
 */
export interface DdpmStep extends StepBase {
  readonly sqrt_recip_alphas_cumprod: number;
  readonly sqrt_recipm1_alphas_cumprod: number;
  readonly posterior_mean_coef1: number;
  readonly posterior_mean_coef2: number;
  /** log β'_k of the respaced process: the maximum log variance. */
  readonly log_beta: number;
  /** log of the posterior variance, its first entry replaced by the second: the minimum log variance. */
  readonly posterior_log_variance_clipped: number;
  /** False on the last step, which returns the mean. */
  readonly add_noise: boolean;
}

/**
 * DDIM step (models.md §9.2; DDIM paper eq. 12 and 16), either flavour:
 *   x0 = sqrt_recip_alphas_cumprod·x − sqrt_recipm1_alphas_cumprod·ε
 *   x  ← sqrt_alpha_cumprod_prev·x0 + direction_coef·ε + [add_noise]·sigma·z
 * IDDPM's `ddim_sample` re-derives ε from x0; without clipping that is ε itself.
 */
export interface DdimStep extends StepBase {
  /** ᾱ_t of this step's timestep. */
  readonly alpha_cumprod: number;
  /** ᾱ of the step it moves to (1 after the last). */
  readonly alpha_cumprod_prev: number;
  /** σ_t(η) = η·√((1 − ᾱ_prev)/(1 − ᾱ_t))·√(1 − ᾱ_t/ᾱ_prev). */
  readonly sigma: number;
  /** 1/√ᾱ_t. */
  readonly sqrt_recip_alphas_cumprod: number;
  /** √(1/ᾱ_t − 1) = √(1 − ᾱ_t)/√ᾱ_t. */
  readonly sqrt_recipm1_alphas_cumprod: number;
  readonly sqrt_alpha_cumprod_prev: number;
  /** √(1 − ᾱ_prev − σ²): DDIM's "direction pointing to x_t". */
  readonly direction_coef: number;
  /** Whether σ > 0 (η > 0, on every step but the last). */
  readonly add_noise: boolean;
}

/**
 * DPM-Solver++ multistep step, data prediction, "dpmsolver" solver type (models.md §9.3). The model is evaluated
 * at t (the step's timestep is its discrete-time input), then x moves from t to t_next:
 *   m_i = (x − sigma·ε)/alpha                                       (the data prediction, kept for the next step)
 *   x  ← x_coef·x + data_coef·m_i + d1_coef·D1,   D1 = (m_i − m_{i−1})/r0   (order 2 only)
 * with x_coef = sigma_next/sigma, data_coef = −alpha_next·phi_1, d1_coef = −0.5·alpha_next·phi_1.
 */
export interface DpmStep extends StepBase {
  /** Continuous time of this step and of the one it moves to, in (0, 1]. */
  readonly t: number;
  readonly t_next: number;
  /** 1 on the first step (and on the last when lower_order_final applies), else the solver order. */
  readonly order: 1 | 2;
  readonly alpha: number;
  readonly sigma: number;
  readonly lambda: number;
  readonly alpha_next: number;
  readonly sigma_next: number;
  readonly lambda_next: number;
  /** λ_next − λ. */
  readonly h: number;
  /** λ − λ_prev, the previous step's h; null at order 1. */
  readonly h_prev: number | null;
  /** h_prev / h; null at order 1. */
  readonly r0: number | null;
  /** expm1(−h). */
  readonly phi_1: number;
  readonly x_coef: number;
  readonly data_coef: number;
  /** The weight of D1; 0 at order 1. */
  readonly d1_coef: number;
}

/**
 * Euler step of a flow model whose velocity points from noise to data (v ≈ x0 − ε: Open-Sora 1.2, models.md
 * §9.4): x ← x + dt·v with dt = sigma − sigma_next ≥ 0 (rflow: (t'_i − t'_{i+1})/T, the last step to 0).
 */
export interface FlowStep extends StepBase {
  /** Noise level of this step, timestep/T. */
  readonly sigma: number;
  /** Noise level after the step (0 after the last). */
  readonly sigma_next: number;
  readonly dt: number;
}

interface TableOf<S extends Solver, E extends StepBase> {
  readonly kind: SchedulerKind;
  readonly solver: S;
  /** Training timesteps T of the noise schedule. */
  readonly trainSteps: number;
  readonly steps: readonly E[];
}

export type DdpmTable = TableOf<"ddpm", DdpmStep>;
export type DdimTable = TableOf<"ddim", DdimStep>;
export type DpmTable = TableOf<"dpmpp2m", DpmStep>;
export type FlowTable = TableOf<"flow-euler", FlowStep>;
export type StepTable = DdpmTable | DdimTable | DpmTable | FlowTable;
export type StepEntry = DdpmStep | DdimStep | DpmStep | FlowStep;
