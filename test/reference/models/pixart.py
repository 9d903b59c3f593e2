"""PixArt-α (class `PixArt`, the 256/512 checkpoints): T5 cross-attention, adaLN-single (models.md §2).

Quirks kept: one shared t_block (SiLU, Linear D -> 6D) plus each block's [6, D] table; the cross-attention has no
norm and no gate, and each sample attends only to its own unmasked caption tokens; the T2I final layer adds the
RAW timestep embedding t (not t0) to its [2, D] table, shift first; positions idx / (n / base_size) / lewei_scale.
The unconditional half of a CFG batch is the stored null caption y_embedding with the prompt's mask, which the
caller puts in the batch.
"""

import torch.nn.functional as F

from .common import (
    adaln_single_rows,
    caption_projection,
    cross_attention,
    layer_norm,
    linear,
    mlp,
    modulate,
    patch_embed_2d,
    self_attention,
    sincos_2d,
    t2i_final_layer,
    timestep_mlp,
    unpatchify,
)


def pixart_block(w, prefix, x, t0, y, mask, heads):
    s1, c1, g1, s2, c2, g2 = adaln_single_rows(w[f"{prefix}.scale_shift_table"], t0)
    x = x + g1 * self_attention(w, f"{prefix}.attn", modulate(layer_norm(x), s1, c1), heads)
    x = x + cross_attention(w, f"{prefix}.cross_attn", x, y, mask, heads)
    x = x + g2 * mlp(w, f"{prefix}.mlp", modulate(layer_norm(x), s2, c2))
    return x


def position_scales(rows, cols, base_size, lewei_scale):
    """PixArt's coordinate multipliers: idx / (n_axis / base_size) / lewei_scale = idx · base_size / n / lewei."""
    return base_size / rows / lewei_scale, base_size / cols / lewei_scale


def forward(w, hyper, batch, settings):
    """batch: latent [B, C, 1, H, W], timestep [B], text [B, L, C_text], mask [B, L].
    (C_text: the caption channels, 4096 for T5-XXL features, 32 for the registry's tiny variants).
    settings: base_size (the checkpoint's training grid), lewei_scale."""
    d, p, heads = hyper["hidden"], hyper["patch"], hyper["heads"]
    tok, (rows, cols) = patch_embed_2d(w, "x_embedder", batch["latent"][:, :, 0], p)
    rs, cs = position_scales(rows, cols, settings["base_size"], settings["lewei_scale"])
    tok = tok + sincos_2d(d, rows, cols, rs, cs, tok.dtype)
    t = timestep_mlp(w, "t_embedder", batch["timestep"])
    t0 = linear(w, "t_block.1", F.silu(t))
    y = caption_projection(w, "y_embedder", batch["text"])
    blocks = []
    for i in range(hyper["depth"]):
        tok = pixart_block(w, f"blocks.{i}", tok, t0, y, batch["mask"], heads)
        blocks.append(("spatial", i, tok))
    out = t2i_final_layer(w, "final_layer", tok, t)
    return unpatchify(out, (1, rows, cols), (1, p, p), hyper["outChannels"]), blocks
