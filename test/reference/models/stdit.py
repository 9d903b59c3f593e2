"""Open-Sora 1.0 STDiT (models.md §4): PixArt-α blocks that each also hold a temporal attention.

Quirks kept: the temporal branch has NO norm and NO modulation of its own — it reads the raw residual stream
after the spatial branch and is gated by the spatial gate_msa; the temporal sin-cos table enters only block 0,
and only as an input of attn_temp (never the residual stream); cross-attention has no norm and no gate; spatial
positions idx / space_scale, temporal positions idx / time_scale; the T2I final layer on the raw t.
"""

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
    sincos_1d,
    sincos_2d,
    t2i_final_layer,
    timestep_mlp,
    to_spatial,
    to_temporal,
    unpatchify,
)


def stdit_block(w, prefix, x, t0, y, mask, heads, frames, tokens, tpe):
    b = x.shape[0]
    s1, c1, g1, s2, c2, g2 = adaln_single_rows(w[f"{prefix}.scale_shift_table"], t0)
    # spatial: attention over the tokens of each frame, on the LN-modulated stream
    xm = modulate(layer_norm(x), s1, c1)
    xs = self_attention(w, f"{prefix}.attn", to_spatial(xm, frames, tokens), heads)
    x = x + g1 * from_spatial(xs, b, frames, tokens)
    # temporal: attention over frames of each position, on the raw stream; tpe (block 0 only) is an input only
    xt = to_temporal(x, frames, tokens)
    if tpe is not None:
        xt = xt + tpe
    xt = self_attention(w, f"{prefix}.attn_temp", xt, heads)
    x = x + g1 * from_temporal(xt, b, frames, tokens)
    x = x + cross_attention(w, f"{prefix}.cross_attn", x, y, mask, heads)
    x = x + g2 * mlp(w, f"{prefix}.mlp", modulate(layer_norm(x), s2, c2))
    return x


def forward(w, hyper, batch, settings):
    """batch: latent [B, C, T, H, W], timestep [B], text [B, L, C_text], mask [B, L].
    (C_text: the caption channels, 4096 for T5-XXL features, 32 for the registry's tiny variants).
    settings: space_scale, time_scale (positions idx / scale)."""
    d, p, pt, heads = hyper["hidden"], hyper["patch"], hyper["patchT"], hyper["heads"]
    tok, (frames, rows, cols) = patch_embed_3d(w, "x_embedder", batch["latent"], (pt, p, p))
    b, tokens = tok.shape[0], rows * cols
    coord = 1.0 / settings["space_scale"]
    pos = sincos_2d(d, rows, cols, coord, coord, tok.dtype)
    tok = (tok.reshape(b, frames, tokens, d) + pos).reshape(b, frames * tokens, d)
    t = timestep_mlp(w, "t_embedder", batch["timestep"])
    t0 = linear(w, "t_block.1", F.silu(t))
    y = caption_projection(w, "y_embedder", batch["text"])
    tpe = sincos_1d(d, torch.arange(frames, dtype=tok.dtype) / settings["time_scale"])
    blocks = []
    for i in range(hyper["depth"]):
        tok = stdit_block(w, f"blocks.{i}", tok, t0, y, batch["mask"], heads, frames, tokens, tpe if i == 0 else None)
        blocks.append(("spatial", i, tok))
    out = t2i_final_layer(w, "final_layer", tok, t)
    return unpatchify(out, (frames, rows, cols), (pt, p, p), hyper["outChannels"]), blocks
