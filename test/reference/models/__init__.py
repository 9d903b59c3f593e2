"""PyTorch reference forwards of the DiT families opendit compiles, written from
../shared/reference/models.md on plain torch ops. Each module's `forward(weights, hyper, batch, settings)` returns
the model output [B, C_out, T, H, W] and every block's output as (kind, index, [B, tokens, D]) in (t, h, w) token
order. `FORWARDS` maps the registry's family names to them."""

from . import dit, latte, latte_t2v, pixart, stdit, stdit3
from .common import Weights

FORWARDS = {
    "dit": dit.forward,
    "pixart": pixart.forward,
    "latte": latte.forward,
    "latte-t2v": latte_t2v.forward,
    "opensora-plan": latte_t2v.forward,
    "stdit": stdit.forward,
    "stdit3": stdit3.forward,
}

__all__ = ["FORWARDS", "Weights"]
