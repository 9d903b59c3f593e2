#!/usr/bin/env python3
"""Golden files for the native runtime's VAE decode: the SD-VAE decoder of sd_vae.py (models.md §10.1) at tiny
widths with seeded random weights, decoding a few small latents in float64 on the CPU.

Writes to test/fixtures/goldens/vae/ (or --out):
    vae-weights.safetensors   the decoder's checkpoint in diffusers naming, float32 (post_quant_conv.*, decoder.*):
                              block_out_channels [4, 8, 16, 16] (the real [128, 256, 512, 512] / 32), layers_per_block
                              2, 4 latent channels, so every kind of tensor of the real decoder is there (two
                              conv_shortcuts, three upsamplers, the mid-block attention), at a size fit for a test
    vae.safetensors           per case i:
        case.<i>.input.latent    [samples, 4, frames, h, w]   the DiT's final latent (model space; decoded as / scale)
        case.<i>.<stage>         [samples·frames, H, W, C]    the output of each stage (sd_vae.py `decode`), NHWC
                                                              rows as the plan's activations hold them, images in
                                                              (sample, frame) order
        case.<i>.output          [samples, 3, frames, 8h, 8w] the decoded video, as the run's `video` output
    vae.json                  the sidecar: the decoder's settings (groups, eps, scale, widths), the cases, the
                              stages, each weight's sha256, and `float32_relative_error`: max|f32 − f64| / max|f64|
                              of the same reference replayed in float32, per case and stage (how close a correct
                              float32 implementation comes)

The weights are the generator's normals (opendit-random-v1, ../opendit_random.py, key(WEIGHTS_SEED, name)) scaled
so that every stage moves the output: conv and linear weights z / sqrt(fan_in), biases 0.2·z, GroupNorm weights
1 + 0.2·z; computed in float64 and rounded once to float32. The latents are the normals of key(SEED,
"vae/case.<i>/latent"), rounded to float32. GroupNorm: 2 groups (the real model's 32 do not divide 4 channels;
the plan's group_norm op and sd_vae.py take the count as a parameter), eps 1e-6.

Needs only torch and numpy (the safetensors files are written here, by the format's definition in
checkpoint/README.md: tensors sorted by name, header padded with spaces to 8 bytes). From the repository root,
with any python3 that has torch (the committed files: torch 2.13 CPU, /tmp/venv/bin/python):
    python3 test/reference/vae/make_vae_goldens.py [--out DIR]
"""

import argparse
import hashlib
import json
import math
import os
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from opendit_random import normals  # noqa: E402
from sd_vae import StateDict, decode, decoder_tensors  # noqa: E402

DEFAULT_OUT = os.path.join(HERE, "..", "..", "fixtures", "goldens", "vae")
SEED = 20261121
WEIGHTS_SEED = 20261121
SCALE = 0.18215
GROUPS = 2
EPS = 1e-6
LATENT_CHANNELS = 4
BLOCK_OUT_CHANNELS = [4, 8, 16, 16]
LAYERS_PER_BLOCK = 2
# The decoded latents: two frames of 4 x 6 (a video, not square) and one 8 x 8 image.
CASES = [
    {"samples": 1, "frames": 2, "height": 4, "width": 6},
    {"samples": 1, "frames": 1, "height": 8, "width": 8},
]


def init_weight(name, shape):
    z = normals(WEIGHTS_SEED, name, math.prod(shape)).reshape(shape)
    last = name.rsplit(".", 1)[-1]
    before = name.rsplit(".", 2)[-2] if name.count(".") >= 1 else ""
    if last == "weight" and "norm" in before:
        v = 1.0 + 0.2 * z
    elif last == "bias":
        v = 0.2 * z
    elif len(shape) >= 2:
        v = z / math.sqrt(math.prod(shape[1:]))
    else:
        raise ValueError(f"no initialisation rule for {name} {shape}")
    return v.astype(np.float32)


def latent_of(i, c):
    shape = (c["samples"], LATENT_CHANNELS, c["frames"], c["height"], c["width"])
    return normals(SEED, f"vae/case.{i}/latent", math.prod(shape)).reshape(shape).astype(np.float32)


def run(weights, latent, dtype):
    """The decoder on every frame of every sample: (output [S, 3, T, H, W], {stage: [S·T, H, W, C]})."""
    sd = StateDict({k: torch.from_numpy(v).to(dtype) for k, v in weights.items()})
    s, c, t, h, w = latent.shape
    z = torch.from_numpy(latent).to(dtype).permute(0, 2, 1, 3, 4).reshape(s * t, c, h, w)  # images in (s, t) order
    out, stages = decode(sd, z, SCALE, GROUPS, EPS)
    unread = sd.unread()
    if unread:
        raise AssertionError(f"the reference decoder did not read {unread}")
    video = out.reshape(s, t, 3, out.shape[-2], out.shape[-1]).permute(0, 2, 1, 3, 4).contiguous()
    return video, {k: v.permute(0, 2, 3, 1).contiguous() for k, v in stages.items()}


def max_relative_error(approx, exact):
    """max|approx − exact| / max|exact|, the bound the native tests measure by."""
    return float((approx.double() - exact.double()).abs().max() / exact.double().abs().max())


def write_safetensors(tensors, path, metadata):
    """float32 tensors by name (sorted by their UTF-8 bytes), header JSON padded with spaces to 8 bytes."""
    names = sorted(tensors, key=lambda n: n.encode("utf-8"))
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for n in names:
        data = np.ascontiguousarray(tensors[n], dtype="<f4").tobytes()
        header[n] = {"dtype": "F32", "shape": list(tensors[n].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="output folder (default test/fixtures/goldens/vae)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(max(1, min(8, os.cpu_count() or 1)))

    table = decoder_tensors(LATENT_CHANNELS, BLOCK_OUT_CHANNELS, LAYERS_PER_BLOCK)
    weights = {name: init_weight(name, shape) for name, shape in table}
    write_safetensors(weights, os.path.join(args.out, "vae-weights.safetensors"),
                      {"generator": "test/reference/vae/make_vae_goldens.py", "opendit.seed": str(WEIGHTS_SEED)})

    tensors = {}
    cases = []
    stages = None
    for i, c in enumerate(CASES):
        latent = latent_of(i, c)
        video, stage_out = run(weights, latent, torch.float64)
        video32, stage_out32 = run(weights, latent, torch.float32)
        if not torch.isfinite(video).all():
            raise AssertionError(f"case {i}: the decoded video is not finite")
        stages = list(stage_out)
        tensors[f"case.{i}.input.latent"] = latent
        for k, v in stage_out.items():
            tensors[f"case.{i}.{k}"] = v.to(torch.float32).numpy()
        tensors[f"case.{i}.output"] = video.to(torch.float32).numpy()
        errors = {k: max_relative_error(stage_out32[k], v) for k, v in stage_out.items()}
        errors["output"] = max_relative_error(video32, video)
        cases.append({
            **c,
            "image": {"height": 8 * c["height"], "width": 8 * c["width"]},
            "float32_relative_error": errors,
            "stats": {"output_rms": float(video.pow(2).mean().sqrt()), "output_max_abs": float(video.abs().max())},
        })
    write_safetensors(tensors, os.path.join(args.out, "vae.safetensors"), {"generator": "test/reference/vae/make_vae_goldens.py"})

    sidecar = {
        "kind": "vae",
        "file": "vae.safetensors",
        "weights_file": "vae-weights.safetensors",
        "reference": "test/reference/vae/sd_vae.py (models.md §10.1), float64 on the CPU",
        "decoder": {
            "latent_channels": LATENT_CHANNELS,
            "block_out_channels": BLOCK_OUT_CHANNELS,
            "layers_per_block": LAYERS_PER_BLOCK,
            "groups": GROUPS,
            "eps": EPS,
            "scale": SCALE,
        },
        "weights": {
            "seed": WEIGHTS_SEED,
            "rules": "conv/linear weights z/sqrt(fan_in), biases 0.2z, GroupNorm weights 1+0.2z (float64, rounded once to float32)",
            "tensors": [{"name": n, "shape": list(s), "sha256": hashlib.sha256(np.ascontiguousarray(weights[n], dtype="<f4").tobytes()).hexdigest()} for n, s in table],
        },
        "latent_seed": SEED,
        "stages": stages,
        "cases": cases,
    }
    with open(os.path.join(args.out, "vae.json"), "w") as f:
        json.dump(sidecar, f, indent=2)
        f.write("\n")
    for name in ("vae-weights.safetensors", "vae.safetensors"):
        print(f"{name:26} {os.path.getsize(os.path.join(args.out, name)) / 1e6:6.3f} MB")
    for i, c in enumerate(cases):
        worst = max(c["float32_relative_error"].values())
        print(f"case {i}: {c['frames']} x {c['height']} x {c['width']}, output rms {c['stats']['output_rms']:.4f}, f32 err {worst:.1e}")


if __name__ == "__main__":
    main()
