"""Open-Sora 1.2 STDiT3 (models.md §5): separate spatial and temporal blocks, interleaved s0, t0, s1, t1, ...

Quirks kept: both block kinds apply qk RMSNorm (LlamaRMSNorm over the head, weights q_norm/k_norm) and only the
temporal ones then apply RoPE to q and k (lucidrains, interleaved pairs, positions = frame index); the condition
is t_embedder(t) + fps_embedder(fps) and the T2I final layer reads that sum raw; positions
idx / scale · (base_size / n) with scale = sqrt(H_px·W_px) / 512 and base_size = round(sqrt(rows·cols)) over the
padded grid; no temporal sin-cos table; the patch embedder zero-pads H and W at the end to the patch, and the
output is cropped back to the latent size.
"""

import math

import torch
import torch.nn.functional as F

from .common import (
    adaln_single_rows,
    caption_projection,
    cross_attention,
    from_spatial,
    from_temporal,
    layer_norm,
    linear,
    mlp,
    modulate,
    patch_embed_3d,
    self_attention,
    sincos_2d,
    t2i_final_layer,
    timestep_mlp,
    to_spatial,
    to_temporal,
    unpatchify,
)

INPUT_SQ_SIZE = 512


def stdit3_block(w, prefix, x, t_mlp, y, mask, heads, frames, tokens, temporal):
    b = x.shape[0]
    s1, c1, g1, s2, c2, g2 = adaln_single_rows(w[f"{prefix}.scale_shift_table"], t_mlp)
    xm = modulate(layer_norm(x), s1, c1)
    if temporal:
        a = self_attention(w, f"{prefix}.attn", to_temporal(xm, frames, tokens), heads, qk_norm=True, rope=True)
        a = from_temporal(a, b, frames, tokens)
    else:
        a = self_attention(w, f"{prefix}.attn", to_spatial(xm, frames, tokens), heads, qk_norm=True)
        a = from_spatial(a, b, frames, tokens)
    x = x + g1 * a
    x = x + cross_attention(w, f"{prefix}.cross_attn", x, y, mask, heads)
    x = x + g2 * mlp(w, f"{prefix}.mlp", modulate(layer_norm(x), s2, c2))
    return x


def position_scales(height_px, width_px, rows, cols):
    """Coordinate multipliers idx · base_size / (scale · n) (models.md §5.4)."""
    scale = math.sqrt(height_px * width_px) / INPUT_SQ_SIZE
    base_size = round(math.sqrt(rows * cols))
    return base_size / (scale * rows), base_size / (scale * cols)


def forward(w, hyper, batch, settings):
    """batch: latent [B, C, T, H, W], timestep [B] in (0, 1000], text [B, L, C_text], mask [B, L], fps [B].
    (C_text: the caption channels, 4096 for T5-XXL features, 32 for the registry's tiny variants).
    settings: height, width (pixels)."""
    d, p, pt, heads = hyper["hidden"], hyper["patch"], hyper["patchT"], hyper["heads"]
    latent = batch["latent"]
    _, _, lt, lh, lw = latent.shape
    tok, (frames, rows, cols) = patch_embed_3d(w, "x_embedder", latent, (pt, p, p))
    b, tokens = tok.shape[0], rows * cols
    rs, cs = position_scales(settings["height"], settings["width"], rows, cols)
    pos = sincos_2d(d, rows, cols, rs, cs, tok.dtype)
    tok = (tok.reshape(b, frames, tokens, d) + pos).reshape(b, frames * tokens, d)
    t = timestep_mlp(w, "t_embedder", batch["timestep"]) + timestep_mlp(w, "fps_embedder", batch["fps"])
    t_mlp = linear(w, "t_block.1", F.silu(t))
    y = caption_projection(w, "y_embedder", batch["text"])
    blocks = []
    for i in range(hyper["depth"]):
        tok = stdit3_block(w, f"spatial_blocks.{i}", tok, t_mlp, y, batch["mask"], heads, frames, tokens, False)
        blocks.append(("spatial", i, tok))
        tok = stdit3_block(w, f"temporal_blocks.{i}", tok, t_mlp, y, batch["mask"], heads, frames, tokens, True)
        blocks.append(("temporal", i, tok))
    out = t2i_final_layer(w, "final_layer", tok, t)
    out = unpatchify(out, (frames, rows, cols), (pt, p, p), hyper["outChannels"])
    return out[:, :, :lt, :lh, :lw], blocks
