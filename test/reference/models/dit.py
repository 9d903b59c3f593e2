"""DiT (facebookresearch/DiT), class-conditional, adaLN-Zero blocks (models.md §1).

Quirks kept: adaLN-Zero chunks in the order shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp; the
final layer chunks SHIFT first, then scale; the 2-D sin-cos table at integer coordinates with the width
coordinate in its first half; unpatchify with (p, q, c) features, channel fastest; the null class is index
num_classes (the extra table row).
"""

import torch
import torch.nn.functional as F

from .common import layer_norm, linear, mlp, modulate, patch_embed_2d, self_attention, sincos_2d, timestep_mlp, unpatchify


def dit_block(w, prefix, x, c, heads):
    """One DiTBlock: c [N, D] is the condition of each sequence in x [N, L, D]."""
    s1, c1, g1, s2, c2, g2 = linear(w, f"{prefix}.adaLN_modulation.1", F.silu(c))[:, None].chunk(6, dim=-1)
    x = x + g1 * self_attention(w, f"{prefix}.attn", modulate(layer_norm(x), s1, c1), heads)
    x = x + g2 * mlp(w, f"{prefix}.mlp", modulate(layer_norm(x), s2, c2))
    return x


def dit_final_layer(w, x, c):
    """FinalLayer: shift, scale = Linear(SiLU(c)).chunk(2) — shift FIRST — then LN, modulate, linear."""
    shift, scale = linear(w, "final_layer.adaLN_modulation.1", F.silu(c))[:, None].chunk(2, dim=-1)
    return linear(w, "final_layer.linear", modulate(layer_norm(x), shift, scale))


def forward(w, hyper, batch, settings):
    """batch: latent [B, C, 1, H, W], timestep [B], labels [B] (num_classes = the null class).
    Returns the output [B, 2C, 1, H, W] and [("spatial", i, [B, N, D])] after every block."""
    d, p, heads = hyper["hidden"], hyper["patch"], hyper["heads"]
    x = batch["latent"][:, :, 0]
    tok, (rows, cols) = patch_embed_2d(w, "x_embedder", x, p)
    tok = tok + sincos_2d(d, rows, cols, 1.0, 1.0, tok.dtype)
    c = timestep_mlp(w, "t_embedder", batch["timestep"]) + w["y_embedder.embedding_table.weight"][batch["labels"]]
    blocks = []
    for i in range(hyper["depth"]):
        tok = dit_block(w, f"blocks.{i}", tok, c, heads)
        blocks.append(("spatial", i, tok))
    out = dit_final_layer(w, tok, c)
    return unpatchify(out, (1, rows, cols), (1, p, p), hyper["outChannels"]), blocks
