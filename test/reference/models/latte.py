"""Latte, the original code base (Vchitect/Latte models/latte.py), class-conditional (models.md §3.1).

One list of DiT blocks: even index spatial, odd temporal. Quirks kept: the model's own latent layout is
[B, F, C, H, W] (frames before channels; this forward takes and returns the plan's [B, C, T, H, W] and permutes);
the spatial condition is c repeated over frames, the temporal one c repeated over the spatial tokens; the
temporal table emb1d(D, 0..F-1) is ADDED TO THE RESIDUAL STREAM once, before the first temporal block; the final
layer is DiT's (shift first) on the per-frame condition, unpatchified per frame.
"""

import torch

from .common import from_temporal, patch_embed_2d, sincos_1d, sincos_2d, timestep_mlp, to_temporal, unpatchify
from .dit import dit_block, dit_final_layer


def forward(w, hyper, batch, settings):
    """batch: latent [B, C, F, H, W] (plan layout), timestep [B], labels [B] (num_classes = the null class)."""
    d, p, heads = hyper["hidden"], hyper["patch"], hyper["heads"]
    latent = batch["latent"]
    b, ch, frames, h, wd = latent.shape
    x = latent.permute(0, 2, 1, 3, 4).reshape(b * frames, ch, h, wd)
    tok, (rows, cols) = patch_embed_2d(w, "x_embedder", x, p)
    tokens = rows * cols
    tok = tok + sincos_2d(d, rows, cols, 1.0, 1.0, tok.dtype)
    c = timestep_mlp(w, "t_embedder", batch["timestep"]) + w["y_embedder.embedding_table.weight"][batch["labels"]]
    c_spatial = c.repeat_interleave(frames, dim=0)
    c_temporal = c.repeat_interleave(tokens, dim=0)
    temp_embed = sincos_1d(d, torch.arange(frames, dtype=tok.dtype))
    blocks = []
    for k in range(hyper["depth"]):
        tok = dit_block(w, f"blocks.{2 * k}", tok, c_spatial, heads)
        blocks.append(("spatial", k, tok.reshape(b, frames * tokens, d)))
        xt = to_temporal(tok.reshape(b, frames * tokens, d), frames, tokens)
        if k == 0:
            xt = xt + temp_embed
        xt = dit_block(w, f"blocks.{2 * k + 1}", xt, c_temporal, heads)
        seq = from_temporal(xt, b, frames, tokens)
        blocks.append(("temporal", k, seq))
        tok = seq.reshape(b * frames, tokens, d)
    out = dit_final_layer(w, tok, c_spatial)
    out = unpatchify(out, (1, rows, cols), (1, p, p), hyper["outChannels"])[:, :, 0]
    out = out.reshape(b, frames, hyper["outChannels"], h, wd).permute(0, 2, 1, 3, 4)
    return out, blocks
