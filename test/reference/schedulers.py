#!/usr/bin/env python3
"""Independent reference for opendit's sampler step tables (compiler/schedule).

A separate transcription of the published sampler formulas (models.md §8.2, §9.1-§9.4: IDDPM respacing and
learned-range variance, DDIM in its IDDPM and diffusers flavours, DPM-Solver++ 2M on the discrete VP schedule,
Open-Sora 1.2 rectified flow, flow-matching Euler with a shift), written with numpy in float64 and without
reference to the TypeScript. It writes one JSON file per case to test/fixtures/schedulers/; the vitest suite
test/compiler/schedule/reference.test.ts compares every coefficient with relative error <= 1e-12.

A test tool only (numpy is not a runtime dependency). Run from the repository root:
    python3 test/reference/schedulers.py
"""

import json
import math
import os

import numpy as np

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "schedulers")


# ----------------------------------------------------------------------------------------------------------
# Noise schedules
# ----------------------------------------------------------------------------------------------------------

def iddpm_betas(T):
    """get_named_beta_schedule("linear", T): float64, both ends scaled by 1000/T."""
    scale = 1000.0 / T
    return np.linspace(scale * 0.0001, scale * 0.02, T, dtype=np.float64)


def diffusers_alphas_cumprod(T):
    """diffusers DDIMScheduler: torch.linspace(1e-4, 0.02, T, float32), alphas = 1 - betas (float32), and
    torch's CPU cumprod, which multiplies in double and stores float32.

    torch's float32 linspace: a float32 step; points below T//2 count up from the start, the rest down from
    the end, each with one rounding (fused multiply-add)."""
    f32 = np.float32
    start, end = f32(0.0001), f32(0.02)
    if T == 1:
        betas = np.array([start], dtype=f32)
    else:
        step = f32(f32(end - start) / f32(T - 1))
        k = np.arange(T, dtype=np.float64)
        up = np.float64(start) + np.float64(step) * k
        down = np.float64(end) - np.float64(step) * (T - 1 - k)
        betas = np.where(k < T // 2, up, down).astype(f32)
    alphas = (f32(1.0) - betas).astype(f32)
    return np.cumprod(alphas.astype(np.float64)).astype(f32).astype(np.float64)


def space_timesteps(T, n):
    """IDDPM respace.space_timesteps(T, "n"): one section, fractional stride, Python round()."""
    stride = (T - 1) / (n - 1) if n > 1 else 1
    kept, cur = [], 0.0
    for _ in range(n):
        kept.append(round(cur))
        cur += stride
    return sorted(set(kept))


class Respaced:
    """SpacedDiffusion: new betas from the kept indices, then GaussianDiffusion's derived arrays."""

    def __init__(self, T, n):
        base = np.cumprod(1.0 - iddpm_betas(T))
        self.kept = space_timesteps(T, n)
        prev, betas = 1.0, []
        for i, a in enumerate(base):
            if i in self.kept:
                betas.append(1.0 - a / prev)
                prev = a
        self.betas = np.array(betas, dtype=np.float64)
        self.alphas = 1.0 - self.betas
        self.acp = np.cumprod(self.alphas)
        self.acp_prev = np.append(1.0, self.acp[:-1])


# ----------------------------------------------------------------------------------------------------------
# Samplers
# ----------------------------------------------------------------------------------------------------------

def iddpm_table(T, n):
    p = Respaced(T, n)
    post_var = p.betas * (1.0 - p.acp_prev) / (1.0 - p.acp)
    post_logvar_clipped = np.log(np.append(post_var[1], post_var[1:]))
    coef1 = p.betas * np.sqrt(p.acp_prev) / (1.0 - p.acp)
    coef2 = (1.0 - p.acp_prev) * np.sqrt(p.alphas) / (1.0 - p.acp)
    order = list(range(len(p.kept)))[::-1]
    return {
        "index": list(range(len(order))),
        "timestep": [p.kept[k] for k in order],
        "sqrt_recip_alphas_cumprod": [np.sqrt(1.0 / p.acp[k]) for k in order],
        "sqrt_recipm1_alphas_cumprod": [np.sqrt(1.0 / p.acp[k] - 1.0) for k in order],
        "posterior_mean_coef1": [coef1[k] for k in order],
        "posterior_mean_coef2": [coef2[k] for k in order],
        "log_beta": [np.log(p.betas[k]) for k in order],
        "posterior_log_variance_clipped": [post_logvar_clipped[k] for k in order],
        "add_noise": [k != 0 for k in order],
    }


def ddim_sigma(eta, a, a_prev):
    """DDIM eq. 16: sigma_t(eta)."""
    return eta * math.sqrt((1.0 - a_prev) / (1.0 - a)) * math.sqrt(1.0 - a / a_prev)


def ddim_columns(points, eta):
    """points: (timestep, alpha_cumprod, alpha_cumprod_prev) in sampling order."""
    cols = {k: [] for k in ("index", "timestep", "alpha_cumprod", "alpha_cumprod_prev", "sigma", "sqrt_recip_alphas_cumprod",
                            "sqrt_recipm1_alphas_cumprod", "sqrt_alpha_cumprod_prev", "direction_coef", "add_noise")}
    for i, (t, a, a_prev) in enumerate(points):
        sigma = ddim_sigma(eta, a, a_prev)
        cols["index"].append(i)
        cols["timestep"].append(t)
        cols["alpha_cumprod"].append(a)
        cols["alpha_cumprod_prev"].append(a_prev)
        cols["sigma"].append(sigma)
        cols["sqrt_recip_alphas_cumprod"].append(1.0 / math.sqrt(a))
        cols["sqrt_recipm1_alphas_cumprod"].append(math.sqrt(1.0 / a - 1.0))
        cols["sqrt_alpha_cumprod_prev"].append(math.sqrt(a_prev))
        cols["direction_coef"].append(math.sqrt(1.0 - a_prev - sigma * sigma))
        cols["add_noise"].append(sigma > 0)
    return cols


def ddim_iddpm_table(T, n, eta):
    p = Respaced(T, n)
    points = [(p.kept[k], p.acp[k], p.acp_prev[k]) for k in reversed(range(len(p.kept)))]
    return ddim_columns(points, eta)


def ddim_diffusers_timesteps(T, n, spacing):
    if spacing == "leading":
        return [int(v) for v in (np.arange(0, n) * (T // n)).round()[::-1]]
    if spacing == "trailing":
        return [int(v) - 1 for v in np.round(np.arange(T, 0, -T / n))[:n]]
    if spacing == "linspace":
        return [int(v) for v in np.linspace(0, T - 1, n).round()[::-1]]
    raise ValueError(spacing)


def ddim_diffusers_table(T, n, eta, spacing):
    acp = diffusers_alphas_cumprod(T)
    points = []
    for t in ddim_diffusers_timesteps(T, n, spacing):
        prev = t - T // n
        points.append((t, float(acp[t]), float(acp[prev]) if prev >= 0 else 1.0))
    return ddim_columns(points, eta)


class VpDiscrete:
    """DPM-Solver's NoiseScheduleVP('discrete'): log alpha piecewise linear in t over t_i = (i+1)/T."""

    def __init__(self, T):
        self.log_alpha = 0.5 * np.cumsum(np.log(1.0 - iddpm_betas(T)))
        self.t = np.linspace(0.0, 1.0, T + 1)[1:]

    def log_mean_coeff(self, t):
        xs, ys = self.t, self.log_alpha
        if t <= xs[0]:
            return ys[0] + (ys[1] - ys[0]) / (xs[1] - xs[0]) * (t - xs[0])
        if t >= xs[-1]:
            return ys[-1] + (ys[-1] - ys[-2]) / (xs[-1] - xs[-2]) * (t - xs[-1])
        return float(np.interp(t, xs, ys))

    def alpha(self, t):
        return math.exp(self.log_mean_coeff(t))

    def sigma(self, t):
        return math.sqrt(1.0 - math.exp(2.0 * self.log_mean_coeff(t)))

    def lam(self, t):
        return math.log(self.alpha(t)) - math.log(self.sigma(t))


def dpm_solver_table(T, n, order):
    vp = VpDiscrete(T)
    ts = np.linspace(1.0, 1.0 / T, n + 1)
    # The reference's multistep loop: warm-up steps of order 1 .. order-1, then `order`, lowered at the end when
    # there are fewer than 10 steps (lower_order_final). Update number s moves from ts[s-1] to ts[s].
    orders = list(range(1, order))
    for s in range(order, n + 1):
        orders.append(min(order, n + 1 - s) if n < 10 else order)
    cols = {k: [] for k in ("index", "timestep", "t", "t_next", "order", "alpha", "sigma", "lambda", "alpha_next", "sigma_next",
                            "lambda_next", "h", "h_prev", "r0", "phi_1", "x_coef", "data_coef", "d1_coef")}
    for i in range(n):
        t, tn = float(ts[i]), float(ts[i + 1])
        o = orders[i]
        lam, lam_next = vp.lam(t), vp.lam(tn)
        h = lam_next - lam
        h_prev = lam - vp.lam(float(ts[i - 1])) if o == 2 else None
        a_next = vp.alpha(tn)
        phi_1 = math.expm1(-h)
        row = {
            "index": i, "timestep": (t - 1.0 / T) * T, "t": t, "t_next": tn, "order": o,
            "alpha": vp.alpha(t), "sigma": vp.sigma(t), "lambda": lam,
            "alpha_next": a_next, "sigma_next": vp.sigma(tn), "lambda_next": lam_next,
            "h": h, "h_prev": h_prev, "r0": None if h_prev is None else h_prev / h, "phi_1": phi_1,
            "x_coef": vp.sigma(tn) / vp.sigma(t), "data_coef": -a_next * phi_1,
            "d1_coef": -0.5 * a_next * phi_1 if o == 2 else 0.0,
        }
        for k, v in row.items():
            cols[k].append(v)
    return cols


def flow_columns(ts, T, rflow):
    """ts: model timesteps t'_i on [0, T], sampling order."""
    cols = {k: [] for k in ("index", "timestep", "sigma", "sigma_next", "dt")}
    for i, t in enumerate(ts):
        t_next = ts[i + 1] if i + 1 < len(ts) else 0.0
        cols["index"].append(i)
        cols["timestep"].append(t)
        cols["sigma"].append(t / T)
        cols["sigma_next"].append(t_next / T)
        cols["dt"].append((t - t_next) / T if rflow else t / T - t_next / T)
    return cols


def rflow_table(T, n, frames, height, width, transform=True):
    """Open-Sora 1.2 RFLOW.sample with timestep_transform (base resolution 512x512, base frames 1)."""
    ts = [(1.0 - i / n) * T for i in range(n)]
    if transform:
        ratio_space = math.sqrt(height * width / (512 * 512))
        nf = 1 if frames == 1 else frames // 17 * 5
        r = ratio_space * math.sqrt(nf)
        ts = [T * (r * (t / T) / (1.0 + (r - 1.0) * (t / T))) for t in ts]
    return flow_columns(ts, T, rflow=True)


def euler_table(T, n, shift):
    """diffusers FlowMatchEulerDiscreteScheduler (static shift): sigma_min is the shifted sigma of timestep 1,
    set_timesteps spaces sigmas from 1 to it and shifts them again."""
    def shifted(s):
        return shift * s / (1.0 + (shift - 1.0) * s)
    sigma_max, sigma_min = shifted(1.0), shifted(1.0 / T)
    sigmas = shifted(np.linspace(sigma_max * T, sigma_min * T, n) / T)
    return flow_columns([float(s) * T for s in sigmas], T, rflow=False)


# ----------------------------------------------------------------------------------------------------------
# Cases
# ----------------------------------------------------------------------------------------------------------

IMAGE = {"frames": 1, "height": 256, "width": 256}

CASES = [
    ("iddpm-100", {"kind": "iddpm", "steps": 100}, IMAGE, lambda: iddpm_table(1000, 100), "ddpm"),
    ("iddpm-250", {"kind": "iddpm", "steps": 250}, IMAGE, lambda: iddpm_table(1000, 250), "ddpm"),
    ("iddpm-50-train500", {"kind": "iddpm", "steps": 50, "train_steps": 500}, IMAGE, lambda: iddpm_table(500, 50), "ddpm"),
    ("ddim-50-leading-eta0", {"kind": "ddim", "steps": 50}, IMAGE, lambda: ddim_diffusers_table(1000, 50, 0.0, "leading"), "ddim"),
    ("ddim-50-leading-eta0.5", {"kind": "ddim", "steps": 50, "eta": 0.5, "spacing": "leading"}, IMAGE,
     lambda: ddim_diffusers_table(1000, 50, 0.5, "leading"), "ddim"),
    ("ddim-50-iddpm-eta0", {"kind": "ddim", "steps": 50, "spacing": "iddpm"}, IMAGE, lambda: ddim_iddpm_table(1000, 50, 0.0), "ddim"),
    ("ddim-50-iddpm-eta0.5", {"kind": "ddim", "steps": 50, "eta": 0.5, "spacing": "iddpm"}, IMAGE,
     lambda: ddim_iddpm_table(1000, 50, 0.5), "ddim"),
    ("ddim-16-trailing-eta0.5", {"kind": "ddim", "steps": 16, "eta": 0.5, "spacing": "trailing"}, IMAGE,
     lambda: ddim_diffusers_table(1000, 16, 0.5, "trailing"), "ddim"),
    ("ddim-7-linspace", {"kind": "ddim", "steps": 7, "spacing": "linspace"}, IMAGE, lambda: ddim_diffusers_table(1000, 7, 0.0, "linspace"), "ddim"),
    ("dpm-solver-20", {"kind": "dpm-solver", "steps": 20}, IMAGE, lambda: dpm_solver_table(1000, 20, 2), "dpmpp2m"),
    ("dpm-solver-5", {"kind": "dpm-solver", "steps": 5, "order": 2}, IMAGE, lambda: dpm_solver_table(1000, 5, 2), "dpmpp2m"),
    ("dpm-solver-8-order1", {"kind": "dpm-solver", "steps": 8, "order": 1}, IMAGE, lambda: dpm_solver_table(1000, 8, 1), "dpmpp2m"),
    ("rflow-30-240x424x51", {"kind": "rflow", "steps": 30}, {"frames": 51, "height": 240, "width": 424},
     lambda: rflow_table(1000, 30, 51, 240, 424), "flow-euler"),
    ("rflow-30-720x1280x51", {"kind": "rflow", "steps": 30}, {"frames": 51, "height": 720, "width": 1280},
     lambda: rflow_table(1000, 30, 51, 720, 1280), "flow-euler"),
    ("rflow-30-image-720x1280", {"kind": "rflow", "steps": 30}, {"frames": 1, "height": 720, "width": 1280},
     lambda: rflow_table(1000, 30, 1, 720, 1280), "flow-euler"),
    ("rflow-10-no-transform", {"kind": "rflow", "steps": 10, "timestep_transform": False}, {"frames": 51, "height": 720, "width": 1280},
     lambda: rflow_table(1000, 10, 51, 720, 1280, transform=False), "flow-euler"),
    ("euler-28-shift3", {"kind": "euler", "steps": 28, "shift": 3.0}, {"frames": 1, "height": 1024, "width": 1024},
     lambda: euler_table(1000, 28, 3.0), "flow-euler"),
    ("euler-20-shift1", {"kind": "euler", "steps": 20}, {"frames": 1, "height": 1024, "width": 1024},
     lambda: euler_table(1000, 20, 1.0), "flow-euler"),
]


def plain(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if v is None:
        return None
    return float(v)


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for name, scheduler, size, build, solver in CASES:
        columns = {k: [plain(v) for v in vs] for k, vs in build().items()}
        doc = {
            "case": name,
            "generator": "test/reference/schedulers.py",
            "scheduler": scheduler,
            "size": size,
            "solver": solver,
            "trainSteps": scheduler.get("train_steps", 1000),
            "columns": columns,
        }
        lines = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in columns.items())
        head = json.dumps({k: v for k, v in doc.items() if k != "columns"}, indent=2)[:-2]
        with open(os.path.join(OUT_DIR, f"{name}.json"), "w") as f:
            f.write(f"{head},\n  \"columns\": {{\n{lines}\n  }}\n}}\n")
        print(f"{name}: {len(columns['index'])} steps")


if __name__ == "__main__":
    main()
