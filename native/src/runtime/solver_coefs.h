// The coefficients of one sampler step for the solver_update op, read from the plan's step table
// (compiler/schedule/step-table.ts StepEntry, by field name) once per step and shared by every backend: the CPU
// kernel (cpu/solver_update.cpp) and the CUDA one (cuda/solver_update.cu, which uploads a table of them) read
// exactly the same numbers.
#pragma once
#include "plan/plan.h"

namespace od {

// One step's coefficients (plain data: the CUDA backend copies it to the device).
struct SolverCoefs {
  double sqrt_recip = 0, sqrt_recipm1 = 0;                                 // ddpm, ddim
  double mean1 = 0, mean2 = 0, log_beta = 0, logv_clipped = 0;             // ddpm
  double sqrt_alpha_prev = 0, direction = 0;                               // ddim
  double sigma = 0, alpha = 0, x_coef = 0, data_coef = 0, d1 = 0, r0 = 1;  // dpmpp2m (sigma also ddim)
  double dt = 0;                                                           // flow-euler
  bool noise = false;   // draws z (ddpm add_noise; ddim add_noise with sigma ≠ 0)
  bool second = false;  // dpmpp2m: a second-order step
};

// The coefficients `op`'s solver reads from step entry `e`; fails naming the step and field when one is missing.
SolverCoefs solver_coefs(const SolverOp& op, const StepSchedule& e);

// "ddpm", "ddim", "dpmpp2m", "flow-euler".
const char* solver_name(Solver s);

}  // namespace od
