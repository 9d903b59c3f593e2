// runtime/solver_coefs.h: a step's solver coefficients from the plan's step table.
#include "runtime/solver_coefs.h"

#include <cmath>
#include <string>

#include "core/error.h"

namespace od {

namespace {

// The schedule's field names, built once at load time so that run reads the step's coefficients without
// allocating (StepSchedule::get takes a std::string; these are longer than the small-string buffer).
const std::string SQRT_RECIP = "sqrt_recip_alphas_cumprod";
const std::string SQRT_RECIPM1 = "sqrt_recipm1_alphas_cumprod";
const std::string MEAN_COEF1 = "posterior_mean_coef1";
const std::string MEAN_COEF2 = "posterior_mean_coef2";
const std::string LOG_BETA = "log_beta";
const std::string LOG_VARIANCE_CLIPPED = "posterior_log_variance_clipped";
const std::string ADD_NOISE = "add_noise";
const std::string SQRT_ALPHA_PREV = "sqrt_alpha_cumprod_prev";
const std::string DIRECTION_COEF = "direction_coef";
const std::string SIGMA = "sigma";
const std::string ALPHA = "alpha";
const std::string X_COEF = "x_coef";
const std::string DATA_COEF = "data_coef";
const std::string D1_COEF = "d1_coef";
const std::string ORDER = "order";
const std::string R0 = "r0";
const std::string DT = "dt";

}  // namespace

const char* solver_name(Solver s) {
  switch (s) {
    case Solver::Ddpm:
      return "ddpm";
    case Solver::Ddim:
      return "ddim";
    case Solver::Dpmpp2m:
      return "dpmpp2m";
    case Solver::FlowEuler:
      return "flow-euler";
  }
  return "?";
}

SolverCoefs solver_coefs(const SolverOp& op, const StepSchedule& e) {
  SolverCoefs k;
  switch (op.solver) {
    case Solver::Ddpm:
      k.sqrt_recip = e.get(SQRT_RECIP);
      k.sqrt_recipm1 = e.get(SQRT_RECIPM1);
      k.mean1 = e.get(MEAN_COEF1);
      k.mean2 = e.get(MEAN_COEF2);
      k.log_beta = e.get(LOG_BETA);
      k.logv_clipped = e.get(LOG_VARIANCE_CLIPPED);
      k.noise = e.get(ADD_NOISE) != 0;
      break;
    case Solver::Ddim:
      k.sqrt_recip = e.get(SQRT_RECIP);
      k.sqrt_recipm1 = e.get(SQRT_RECIPM1);
      k.sqrt_alpha_prev = e.get(SQRT_ALPHA_PREV);
      k.direction = e.get(DIRECTION_COEF);
      k.sigma = e.get(SIGMA);
      k.noise = e.get(ADD_NOISE) != 0 && k.sigma != 0;
      break;
    case Solver::Dpmpp2m: {
      k.sigma = e.get(SIGMA);
      k.alpha = e.get(ALPHA);
      k.x_coef = e.get(X_COEF);
      k.data_coef = e.get(DATA_COEF);
      k.d1 = e.get(D1_COEF);
      k.second = e.get(ORDER) == 2 && k.d1 != 0;
      // r0 is null at order 1 (NaN in StepSchedule, whose get refuses it): read it directly, `r0 ?? 1` as the
      // reference does.
      const auto it = e.values.find(R0);
      const double r0 = it == e.values.end() ? std::nan("") : it->second;
      OD_CHECK(!k.second || (!std::isnan(r0) && r0 != 0),
               "a second-order step at step " + std::to_string(e.index) + " has no ratio r0", "the plan's step table is inconsistent");
      k.r0 = std::isnan(r0) ? 1 : r0;
      break;
    }
    case Solver::FlowEuler:
      k.dt = e.get(DT);
      break;
  }
  return k;
}

}  // namespace od
