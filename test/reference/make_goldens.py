#!/usr/bin/env python3
"""Golden files for opendit's native CPU backend: the PyTorch reference forward of every DiT family at its
registry `<family>-tiny` size, and two whole-sampler runs.

For each family it builds a seeded random checkpoint with exactly the tensor names and shapes of
test/reference/weights-tables.json (the registry's table, dumped by dump-weights.mjs), seeded inputs, runs one
model evaluation on the classifier-free-guidance batch [conditional; unconditional] in float64 on the CPU, and
writes test/fixtures/goldens/<family>.safetensors (float32; mask and labels int32) with
    input.latent              [samples, C, T, H, W]  (both CFG halves read it, as the plan's patch embedding does)
    input.timestep            [batch]
    input.labels              [samples]              class families; the null class is num_classes
    input.text, input.text.mask  [samples, L, C], [samples, L]   text families; padded tokens are zeros
    input.negative_text       [samples, L, C]        families whose unconditional input is a negative prompt
    block.<spatial|temporal>.<i>  [batch, tokens, D] the residual stream after each block, tokens in (t, h, w) order
    output                    [batch, C_out, T, H, W] the model output (learned-variance half included)
and a JSON sidecar <family>.json with the sizes, settings and the pipeline the golden corresponds to.

The weights are not stored: they are the normals of the project's generator (opendit-random-v1, key(seed, name),
checkpoint/README.md; numpy in opendit_random.py) scaled by `init_weight`, which test/helpers/golden-weights.ts
repeats in TypeScript; the sidecar records the seed and each tensor's sha256, which goldens.test.ts checks
against the TypeScript values. The pipeline names the checkpoint `<family>-weights.safetensors` that
golden-weights.ts writes (`writeGoldenCheckpoint`).

The tiny variants read 8 text tokens of 32 channels (no encoder produces them), so a text family's pipeline names
an embeddings file, `<family>-text.safetensors`, which holds one sample: `y` = input.text, `mask` =
input.text.mask and, for negative-prompt families, `negative_y` = input.negative_text (the sidecar's
`conditioning.embeddings`). Text families therefore run one sample; dit and latte run two labels.

Then two sampler goldens from models.md §9 (independent of compiler/schedule): DDIM (diffusers flavour, eta 0,
leading spacing) over 5 steps on stdit, and rectified flow with Open-Sora 1.2's timestep transform over 5 steps
on stdit3, both with CFG; each stores the initial noise, the guided prediction and the latent after every step.
They reuse the weights and text of their family's golden.

The computation is float64 throughout; weights and inputs are drawn in float64, rounded to float32 and used as
rounded, so the float32 goldens are exact to float32 rounding of float64 results (~1e-7 relative).

A test tool (torch, numpy and safetensors; run on the GPU machine, torch on CPU). From the repository root:
    python3 test/reference/make_goldens.py [--out DIR]
"""

import argparse
import hashlib
import json
import math
import os
import sys
import zlib

import numpy as np
import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from models import FORWARDS, Weights  # noqa: E402
from opendit_random import normals  # noqa: E402

TABLES = os.path.join(HERE, "weights-tables.json")
DEFAULT_OUT = os.path.join(HERE, "..", "fixtures", "goldens")
SEED = 20261121
# The generator seed of every golden checkpoint (a tensor's stream is key(WEIGHTS_SEED, name)).
WEIGHTS_SEED = 20261121
F64 = torch.float64

MODULATION_LINEARS = ("adaLN_modulation.1.weight", "t_block.1.weight", "adaln_single.linear.weight")


# ---------------------------------------------------------------------------------------------------------
# Cases: one tiny pipeline per family
# ---------------------------------------------------------------------------------------------------------

def case(family, **kw):
    kw["family"] = family
    return kw


CASES = [
    case("dit", samples=2, image=(64, 48), labels=[3, 7], timestep=421.0,
         scheduler=("ddim", 5, 4.0), settings={}),
    # Text families run one sample: their pipelines read an embeddings file, which holds one (the plan's
    # sampleCount). The 256 checkpoint's training grid (64x48 is nearest to 256² on a log scale): base_size
    # 256/8/2 = 16, lewei 1.
    case("pixart", samples=1, image=(64, 48), valid=[5], timestep=421.0,
         scheduler=("ddim", 5, 4.5), settings={"base_size": 16, "lewei_scale": 1.0}),
    case("latte", samples=2, video=(4, 64, 48), labels=[5, 42], timestep=421.0,
         scheduler=("ddim", 5, 7.0), settings={}),
    # Latte-1: sample_size 64 (512²), so base_size 32 and interpolation_scale max(64 // 64, 1) = 1.
    case("latte-t2v", samples=1, video=(4, 64, 48), valid=[6], negative=True, timestep=421.0,
         scheduler=("ddim", 5, 7.5),
         settings={"base_size": 32, "interpolation_scale": 1.0, "temporal_scale": 1.0, "temporal_single_frame": False}),
    # Open-Sora 1.0 positions idx / space_scale; its configs give 0.5 at 256² and 1 at 512², i.e. height / 512,
    # which opendit extends to other heights (64 -> 0.125). time_scale 1.
    case("stdit", samples=1, video=(4, 64, 48), valid=[3], timestep=421.0,
         scheduler=("ddim", 5, 7.0), settings={"space_scale": 64 / 512, "time_scale": 1.0}),
    # 17 frames -> 5 latent frames; 40x56 px -> latent 5x7, padded to the token grid 3x4 and cropped back.
    case("stdit3", samples=1, video=(17, 40, 56), fps=24.0, valid=[7], timestep=731.5,
         scheduler=("rflow", 5, 7.0), settings={"height": 40, "width": 56}),
    # Open-Sora-Plan shares LatteT2V's forward and names, with a CausalVAE: 5 frames -> 1 + (5 - 1) / 4 = 2 latent
    # frames; v1.1 temporal positions frame / max(L // 16, 1) = frame, and the table is added even for one frame.
    case("opensora-plan", samples=1, video=(5, 64, 48), valid=[4], negative=True, timestep=421.0,
         scheduler=("ddim", 5, 7.5),
         settings={"base_size": 32, "interpolation_scale": 1.0, "temporal_scale": 1.0, "temporal_single_frame": True}),
]

# The whole-sampler goldens run their family's pipeline: DDIM on stdit, rectified flow on stdit3.
SAMPLER_FAMILIES = ("stdit", "stdit3")

def weights_file(family):
    """The checkpoint a golden pipeline names: test/helpers/golden-weights.ts writes it (see the module docstring)."""
    return f"{family}-weights.safetensors"


def embeddings_file(family):
    """The text file a text family's golden pipeline names (see the module docstring)."""
    return f"{family}-text.safetensors"


def pipeline_yaml(c, hyper_variant):
    fam = c["family"]
    lines = [
        "version: 1",
        f"name: golden-{fam}",
        f"description: The pipeline of the golden file test/fixtures/goldens/{fam}.safetensors (seeded random tiny weights).",
        f"model: {{ family: {fam}, variant: {hyper_variant}, checkpoint: {weights_file(fam)}, dtype: fp32 }}",
    ]
    if "labels" in c:
        lines.append(f"conditioning: {{ labels: {json.dumps(c['labels'])} }}")
    else:
        lines.append(f"conditioning: {{ embeddings: {embeddings_file(fam)} }}")
    if "image" in c:
        h, w = c["image"]
        lines.append(f"image: {{ height: {h}, width: {w} }}")
    else:
        f, h, w = c["video"]
        fps = f", fps: {c['fps']:g}" if "fps" in c else ""
        lines.append(f"video: {{ frames: {f}, height: {h}, width: {w}{fps} }}")
    lines += [
        "seed: 0",
        "scheduler: {{ kind: {}, steps: {}, guidance: {:g} }}".format(*c["scheduler"]),
        "vae: { kind: none }",
        f"output: {{ dir: outputs/golden-{fam}, formats: [latents] }}",
        "runtime: { backend: cpu }",
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------
# Seeded tensors
# ---------------------------------------------------------------------------------------------------------

def generator(*parts):
    g = torch.Generator()
    g.manual_seed((SEED * 1_000_003 + zlib.crc32("/".join(map(str, parts)).encode())) % (2**63))
    return g


def randn(shape, *parts):
    """Standard normal float64, rounded through float32 so the stored values are exactly the computed ones."""
    return torch.randn(shape, dtype=F64, generator=generator(*parts)).to(torch.float32).to(F64)


def init_weight(family, name, shape):
    """The generator's normals z of key(WEIGHTS_SEED, name), scaled so activations stay O(1): linear/conv weights
    N(0, 1/fan_in) (modulation linears half that std), biases N(0, 0.2²), adaLN tables N(0, 0.3²), RMSNorm
    weights 1 + N(0, 0.2²), label tables and the null caption N(0, 1); each value computed in float64 and rounded
    once to float32, as test/helpers/golden-weights.ts does."""
    z = normals(WEIGHTS_SEED, name, math.prod(shape)).reshape(shape)
    if name.endswith("q_norm.weight") or name.endswith("k_norm.weight"):
        v = 1.0 + 0.2 * z
    elif name.endswith("scale_shift_table"):
        v = 0.3 * z
    elif name.endswith("embedding_table.weight") or name.endswith("y_embedding"):
        v = z
    elif name.endswith(".bias"):
        v = 0.2 * z
    elif len(shape) >= 2:
        fan_in = math.prod(shape[1:])
        gain = 0.5 if name.endswith(MODULATION_LINEARS) else 1.0
        v = z * (gain / math.sqrt(fan_in))
    else:
        raise ValueError(f"{family}: no initialisation rule for {name} {shape}")
    return v.astype(np.float32)


def checkpoint(family, table):
    """The golden checkpoint as float32 numpy arrays, by official name in registry order."""
    return {w["name"]: init_weight(family, w["name"], tuple(w["shape"])) for w in table["weights"]}


def weights_sha256(weights):
    """Each tensor's sha256 over its little-endian float32 bytes (row-major), as golden-weights.ts writes them."""
    return {k: hashlib.sha256(np.ascontiguousarray(v, dtype="<f4").tobytes()).hexdigest() for k, v in weights.items()}


def text_features(family, what, samples, tokens, channels, valid):
    """T5-like features [samples, L, C]: N(0, 1) on each sample's first valid[b] tokens, zeros on the padding
    (every model masks it out), and the int32 mask [samples, L]."""
    y = randn((samples, tokens, channels), family, what)
    mask = torch.zeros((samples, tokens), dtype=torch.int32)
    for b, n in enumerate(valid):
        mask[b, :n] = 1
        y[b, n:] = 0
    return y, mask


# ---------------------------------------------------------------------------------------------------------
# Geometry (models.md §12): SD-VAE x8 per frame, Open-Sora 1.2 VAE in time
# ---------------------------------------------------------------------------------------------------------

def latent_frames(family, frames):
    if family == "stdit3":
        return 5 * (frames // 17) + math.ceil((frames % 17) / 4)
    if family == "opensora-plan":
        return 1 + (frames - 1) // 4
    return frames


def sizes(c):
    if "image" in c:
        frames, (h, w) = 1, c["image"]
    else:
        frames, h, w = c["video"]
    return frames, latent_frames(c["family"], frames), h // 8, w // 8, h, w


# ---------------------------------------------------------------------------------------------------------
# One family
# ---------------------------------------------------------------------------------------------------------

class Prepared:
    """A family's checkpoint, inputs and the function that evaluates the model on a CFG batch. Values are drawn
    in float64 and rounded to float32 whatever `dtype` is; `dtype` is the arithmetic (float64 for the goldens,
    float32 for the replay that measures how close a correct float32 implementation comes)."""

    def __init__(self, c, table, dtype=F64):
        self.case = c
        self.family = c["family"]
        self.table = table
        self.hyper = table["hyper"]
        self.dtype = dtype
        self.checkpoint = checkpoint(self.family, table)
        self.weights = {k: torch.from_numpy(v).to(dtype) for k, v in self.checkpoint.items()}
        self.samples = c["samples"]
        self.frames, self.lt, self.lh, self.lw, self.height, self.width = sizes(c)
        h = self.hyper
        self.inputs = {}
        if "labels" in c:
            self.inputs["input.labels"] = torch.tensor(c["labels"], dtype=torch.int32)
            self.null_label = h["numClasses"]
        else:
            y, mask = text_features(self.family, "text", self.samples, h["textTokens"], h["captionChannels"], c["valid"])
            self.inputs["input.text"] = y
            self.inputs["input.text.mask"] = mask
            if c.get("negative"):
                neg, _ = text_features(self.family, "negative", self.samples, h["textTokens"], h["captionChannels"], c["valid"])
                self.inputs["input.negative_text"] = neg
        self.inputs = {k: v.to(dtype) if v.is_floating_point() else v for k, v in self.inputs.items()}

    def model(self, latent, timestep, text_override=None):
        """One evaluation on the CFG batch: rows 0..n-1 conditional, n..2n-1 unconditional, both on `latent`.
        Returns (output [2n, C_out, T, H, W], blocks, weights object)."""
        n = self.samples
        w = Weights(self.weights)
        latent = latent.to(self.dtype)
        batch = {"latent": torch.cat([latent, latent]), "timestep": torch.full((2 * n,), float(timestep), dtype=self.dtype)}
        if "input.labels" in self.inputs:
            labels = self.inputs["input.labels"].long()
            batch["labels"] = torch.cat([labels, torch.full_like(labels, self.null_label)])
        else:
            text = self.inputs["input.text"] if text_override is None else text_override.to(self.dtype)
            mask = self.inputs["input.text.mask"]
            if "input.negative_text" in self.inputs:
                uncond = self.inputs["input.negative_text"]
            else:
                # the stored null caption, paired with each prompt's mask (models.md §0.9)
                uncond = w["y_embedder.y_embedding"][None].expand(n, -1, -1)
            batch["text"] = torch.cat([text, uncond])
            batch["mask"] = torch.cat([mask, mask])
        if self.family == "stdit3":
            batch["fps"] = torch.full((2 * n,), float(self.case["fps"]), dtype=self.dtype)
        out, blocks = FORWARDS[self.family](w, self.hyper, batch, self.case["settings"])
        return out, blocks, w


def noise(family, what, shape):
    return randn(shape, family, what)


def position_info(p):
    """The coordinate multipliers (coordinate = index · scale) the golden used, as the plan's sincos ops state them."""
    fam, s, h = p.family, p.case["settings"], p.hyper
    rows = math.ceil(p.lh / h["patch"])
    cols = math.ceil(p.lw / h["patch"])
    if fam in ("dit", "latte"):
        rs = cs = 1.0
    elif fam == "pixart":
        rs, cs = s["base_size"] / rows / s["lewei_scale"], s["base_size"] / cols / s["lewei_scale"]
    elif fam in ("latte-t2v", "opensora-plan"):
        rs, cs = s["base_size"] / rows / s["interpolation_scale"], s["base_size"] / cols / s["interpolation_scale"]
    elif fam == "stdit":
        rs = cs = 1.0 / s["space_scale"]
    elif fam == "stdit3":
        scale = math.sqrt(s["height"] * s["width"]) / 512
        base = round(math.sqrt(rows * cols))
        rs, cs = base / (scale * rows), base / (scale * cols)
    info = {"grid": [math.ceil(p.lt / h["patchT"]), rows, cols], "spatial": {"row_scale": rs, "col_scale": cs}}
    if fam in ("latte", "latte-t2v", "opensora-plan"):
        info["temporal"] = {"scale": s.get("temporal_scale", 1.0), "into": "residual stream before temporal block 0"}
    elif fam == "stdit":
        info["temporal"] = {"scale": 1.0 / s["time_scale"], "into": "attn_temp input of block 0 only"}
    return info


def relative_error(approx, exact):
    """‖approx − exact‖ / ‖exact‖ over the whole tensor."""
    return float((approx.double() - exact.double()).norm() / exact.double().norm())


def family_golden(p, p32, out_dir):
    c = p.case
    fam = p.family
    n = p.samples
    latent = noise(fam, "latent", (n, p.hyper["inChannels"], p.lt, p.lh, p.lw))
    out, blocks, w = p.model(latent, c["timestep"])
    out32, blocks32, _ = p32.model(latent, c["timestep"])
    unread = w.unread()
    if unread:
        raise AssertionError(f"{fam}: the reference forward did not read {unread}")
    if not torch.isfinite(out).all():
        raise AssertionError(f"{fam}: non-finite output")
    if "input.text" in p.inputs:
        # Self-check of the mask handling: padded caption tokens must not change anything.
        mask = p.inputs["input.text.mask"]
        other = torch.where(mask[..., None] != 0, p.inputs["input.text"], noise(fam, "padding", p.inputs["input.text"].shape))
        again, _, _ = p.model(latent, c["timestep"], text_override=other)
        if not torch.equal(again, out):
            raise AssertionError(f"{fam}: padded caption tokens changed the output")

    tensors = {"input.latent": latent}
    tensors["input.timestep"] = torch.full((2 * n,), float(c["timestep"]), dtype=F64)
    tensors.update(p.inputs)
    names = []
    for kind, i, x in blocks:
        tensors[f"block.{kind}.{i}"] = x
        names.append(f"block.{kind}.{i}")
    tensors["output"] = out
    save(tensors, os.path.join(out_dir, f"{fam}.safetensors"))

    side = {
        "kind": "forward",
        "family": fam,
        "variant": p.table["variant"],
        "file": f"{fam}.safetensors",
        "pipeline": pipeline_yaml(c, p.table["variant"]),
        "hyper": p.hyper,
        # The checkpoint, not stored here: test/helpers/golden-weights.ts writes it from the generator.
        "weights": {
            "file": weights_file(fam),
            "generator": "opendit-random-v1 normals of key(seed, name), scaled by init_weight (test/helpers/golden-weights.ts)",
            "seed": WEIGHTS_SEED,
            "dtype": "F32",
            "sha256": weights_sha256(p.checkpoint),
        },
        "samples": n,
        "batch": 2 * n,
        "batch_rows": "0..samples-1 conditional, samples..batch-1 unconditional; both halves read input.latent",
        "size": {"frames": p.frames, "height": p.height, "width": p.width},
        "latent": {"channels": p.hyper["inChannels"], "frames": p.lt, "height": p.lh, "width": p.lw},
        "positions": position_info(p),
        "timestep": c["timestep"],
        "settings": c["settings"],
        "blocks": names,
        "output_channels": p.hyper["outChannels"],
        "stats": {"output_rms": rms(out), "output_max_abs": float(out.abs().max()),
                  "block_rms": {nm: rms(x) for nm, (_, _, x) in zip(names, blocks)}},
        # The same reference in float32 arithmetic against this golden, ‖f32 − golden‖ / ‖golden‖: how close a
        # correct float32 implementation comes.
        "float32_relative_error": {"output": relative_error(out32, out),
                                   **{nm: relative_error(b32[2], b[2]) for nm, b, b32 in zip(names, blocks, blocks32)}},
        "precision": "computed in float64 with torch on CPU from float32-rounded weights and inputs; stored float32",
        "torch": torch.__version__,
        "seed": SEED,
    }
    if "labels" in c:
        side["conditioning"] = {"labels": c["labels"], "null_label": p.null_label, "uncond": "the null class"}
    else:
        side["conditioning"] = {
            "text_tokens": p.hyper["textTokens"],
            "caption_channels": p.hyper["captionChannels"],
            "valid_tokens": c["valid"],
            "uncond": "input.negative_text with each prompt's mask" if c.get("negative")
            else "weights.y_embedder.y_embedding with each prompt's mask",
            # What the pipeline's `conditioning.embeddings` file holds, by the names of this golden's tensors.
            "embeddings": {"file": embeddings_file(fam), "y": "input.text", "mask": "input.text.mask",
                           **({"negative_y": "input.negative_text"} if c.get("negative") else {})},
        }
    if fam == "stdit3":
        side["fps"] = c["fps"]
    write_json(side, os.path.join(out_dir, f"{fam}.json"))
    return side


# ---------------------------------------------------------------------------------------------------------
# Samplers (models.md §9.2, §9.4)
# ---------------------------------------------------------------------------------------------------------

def diffusers_alphas_cumprod(train_steps=1000):
    """diffusers DDIMScheduler: betas linear in float32, alphas = 1 - betas, cumulative product (float32)."""
    betas = torch.linspace(0.0001, 0.02, train_steps, dtype=torch.float32)
    return torch.cumprod(1.0 - betas, dim=0).to(F64)


def ddim_schedule(steps, train_steps=1000):
    """Leading spacing, steps_offset 0: t_k = k·(T // N) for k = N-1..0; prev = t - T // N; ᾱ_prev = 1 below 0."""
    acp = diffusers_alphas_cumprod(train_steps)
    ratio = train_steps // steps
    out = []
    for k in reversed(range(steps)):
        t = k * ratio
        prev = t - ratio
        out.append((t, float(acp[t]), float(acp[prev]) if prev >= 0 else 1.0))
    return out


def rflow_schedule(steps, frames, height, width, train_steps=1000):
    """Open-Sora 1.2 RFLOW: t_i = (1 - i/N)·T, then the resolution and frame-count transform
    u' = r·u / (1 + (r - 1)·u), r = sqrt(H·W / 512²)·sqrt(nf), nf = 1 for one frame else (frames // 17)·5."""
    nf = 1 if frames == 1 else (frames // 17) * 5
    r = math.sqrt(height * width / 512.0**2) * math.sqrt(nf)
    ts = []
    for i in range(steps):
        u = 1.0 - i / steps
        ts.append(train_steps * (r * u / (1.0 + (r - 1.0) * u)))
    dts = [(ts[i] - ts[i + 1]) / train_steps if i + 1 < steps else ts[i] / train_steps for i in range(steps)]
    return ts, dts


def guided(out, n, channels, scale):
    """CFG on the prediction channels (the learned-variance half dropped): u + s·(c − u), batch [cond; uncond]."""
    pred = out[:, :channels]
    cond, uncond = pred[:n], pred[n:]
    return uncond + scale * (cond - uncond)


def run_sampler(p, kind, steps, guidance, x):
    """The sampler loop in p's arithmetic. Returns the schedule columns and [(prediction, latent)] per step."""
    n, channels = p.samples, p.hyper["inChannels"]
    x = x.to(p.dtype)
    cols, trace = {}, []
    if kind == "ddim":
        sched = ddim_schedule(steps)
        cols["timesteps"] = [float(t) for t, _, _ in sched]
        cols["alphas_cumprod"] = [a for _, a, _ in sched]
        cols["alphas_cumprod_prev"] = [a for _, _, a in sched]
        for t, a, a_prev in sched:
            out, _, _ = p.model(x, float(t))
            eps = guided(out, n, channels, guidance)
            x0 = (x - math.sqrt(1.0 - a) * eps) / math.sqrt(a)
            x = math.sqrt(a_prev) * x0 + math.sqrt(1.0 - a_prev) * eps
            trace.append((eps, x))
    elif kind == "rflow":
        ts, dts = rflow_schedule(steps, p.frames, p.height, p.width)
        cols["timesteps"] = ts
        cols["dt"] = dts
        for t, dt in zip(ts, dts):
            out, _, _ = p.model(x, t)
            v = guided(out, n, channels, guidance)
            x = x + v * dt
            trace.append((v, x))
    else:
        raise ValueError(kind)
    return cols, trace


def sampler_golden(p, p32, kind, steps, guidance, out_dir):
    fam, n = p.family, p.samples
    channels = p.hyper["inChannels"]
    x = noise(fam, f"sampler-{kind}", (n, channels, p.lt, p.lh, p.lw))
    tensors = {"input.latent": x}
    side = {
        "kind": "sampler",
        "sampler": kind,
        "family": fam,
        "variant": p.table["variant"],
        "file": f"sampler-{kind}-{fam}.safetensors",
        "forward_file": f"{fam}.safetensors",
        "text": f"input.text and input.text.mask of {fam}.safetensors (unconditional: as in that file)",
        "weights": f"those of {fam}.json (the same pipeline)",
        "pipeline": pipeline_yaml(p.case, p.table["variant"]),
        "samples": n,
        "batch": 2 * n,
        "steps": steps,
        "guidance": guidance,
        "cfg_channels": channels,
        "tensors": "input.latent (initial noise), step.<i>.prediction (guided, [samples, C, T, H, W]), "
                   "step.<i>.latent (after step i), output (= the last step's latent)",
        "precision": "float64 throughout, latents carried in float64 between steps; stored float32",
        "torch": torch.__version__,
        "seed": SEED,
    }
    cols, trace = run_sampler(p, kind, steps, guidance, x)
    _, trace32 = run_sampler(p32, kind, steps, guidance, x)
    side.update(cols)
    if kind == "ddim":
        side["eta"] = 0.0
        side["spacing"] = "leading"
    else:
        side["timestep_transform"] = True
    for i, (pred, latent) in enumerate(trace):
        tensors[f"step.{i}.prediction"] = pred
        tensors[f"step.{i}.latent"] = latent
    x = trace[-1][1]
    # The same loop in float32 arithmetic against this golden (see the forward goldens). Late DDIM predictions
    # are ill-conditioned (the conditional and unconditional outputs nearly cancel under guidance once the
    # latent is large), while the latents stay well-conditioned: check samplers on the latents.
    side["float32_relative_error"] = {
        "latent": [relative_error(l32, l) for (_, l), (_, l32) in zip(trace, trace32)],
        "prediction": [relative_error(p32_, p_) for (p_, _), (p32_, _) in zip(trace, trace32)],
    }
    if not torch.isfinite(x).all():
        raise AssertionError(f"{kind}: non-finite latent")
    tensors["output"] = x
    side["stats"] = {"output_rms": rms(x), "output_max_abs": float(x.abs().max())}
    save(tensors, os.path.join(out_dir, side["file"]))
    write_json(side, os.path.join(out_dir, f"sampler-{kind}-{fam}.json"))
    return side


# ---------------------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------------------

def rms(x):
    return float(x.double().pow(2).mean().sqrt())


def save(tensors, path):
    stored = {}
    for k, v in tensors.items():
        dtype = torch.int32 if v.dtype in (torch.int32, torch.int64) else torch.float32
        stored[k] = v.to(dtype).clone().contiguous()
    save_file(stored, path, metadata={"generator": "test/reference/make_goldens.py"})


def write_json(obj, path):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="output folder (default test/fixtures/goldens)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(max(1, min(8, os.cpu_count() or 1)))
    with open(TABLES) as f:
        tables = json.load(f)

    prepared = {}
    print(f"{'file':34} {'MB':>6}  {'output rms':>10}  {'f32 err':>8}  blocks")
    for c in CASES:
        p = Prepared(c, tables[c["family"]])
        p32 = Prepared(c, tables[c["family"]], dtype=torch.float32)
        prepared[c["family"]] = (p, p32)
        side = family_golden(p, p32, args.out)
        size = os.path.getsize(os.path.join(args.out, side["file"])) / 1e6
        err = side["float32_relative_error"]["output"]
        print(f"{side['file']:34} {size:6.2f}  {side['stats']['output_rms']:10.4f}  {err:8.1e}  {len(side['blocks'])}")
    for fam in SAMPLER_FAMILIES:
        p, p32 = prepared[fam]
        kind, steps, guidance = p.case["scheduler"]
        side = sampler_golden(p, p32, kind, steps, guidance, args.out)
        size = os.path.getsize(os.path.join(args.out, side["file"])) / 1e6
        err = max(side["float32_relative_error"]["latent"])
        steps_at = " ".join(f"{t:.3f}" for t in side["timesteps"])
        print(f"{side['file']:34} {size:6.2f}  {side['stats']['output_rms']:10.4f}  {err:8.1e}  timesteps {steps_at}")


if __name__ == "__main__":
    main()
