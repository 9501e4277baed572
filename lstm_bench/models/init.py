"""Bias initialisation for the LSTM family (`model.init`), shared by `lstm`, `lstm_cell` and `lstm_triton`.

    default      PyTorch's init, plus `forget_bias_add` (null = 0) added to b_f   (null: nn.LSTM as it comes)
    forget_bias  b_f set to `forget_bias` (null = 1.0: Gers et al. 2000, Jozefowicz et al. 2015)
Each key means one thing: `forget_bias` is only ever the value b_f is set to (init=forget_bias), and
`forget_bias_add` only ever what is added to PyTorch's b_f (init=default). A config from before the split,
`forget_bias` with init=default (where it was added), is refused in one line that says what to write.
    chrono       b_f = log(u), u ~ U[1, T_max - 1], and b_i = -b_f            (Tallec & Ollivier 2018)

A gate's bias is the sum of two parameters (bias_ih and bias_hh, nn.LSTM's layout): "set" writes
the value into bias_ih and zeroes bias_hh, so the sum is exactly the value. In the coupled cell
(cifg) the forget gate is 1 - i = sigmoid(-z_i), so its bias is -b_i: that is what gets written.
"""
import math

import torch

from lstm_bench.errors import require

INITS = ("default", "forget_bias", "chrono")
FORGET_BIAS = 1.0  # init=forget_bias with model.forget_bias=null


def init_name(init: str, forget_bias=None, forget_bias_add=None) -> str:
    """The suffix of the model's result name that says how it was initialised ('' for PyTorch's init)."""
    if init == "chrono":
        return "+chrono"
    if init == "forget_bias":
        return "+forget_bias" if forget_bias in (None, FORGET_BIAS) else f"+forget_bias={forget_bias:g}"
    return f"+forget_bias_add={forget_bias_add:g}" if forget_bias_add else ""


def init_gate_biases(b_ih: torch.Tensor, b_hh: torch.Tensor, rows: str = "ifgo", coupled: bool = False,
                     init: str = "default", forget_bias=None, chrono_tmax=None, variant: str = "vanilla",
                     forget_bias_add=None) -> None:
    """Initialise the gate biases in place. `rows` names the gate blocks of the biases in order
    (nn.LSTM's 'ifgo', or fewer for a cell without some gate); `coupled`: f = 1 - i."""
    require(init in INITS, "model.init", init, "one of " + ", ".join(INITS))
    for key, v in (("model.forget_bias", forget_bias), ("model.forget_bias_add", forget_bias_add)):
        require(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)), key, v,
                "a number, or null")
    require(init == "forget_bias" or forget_bias is None, "model.forget_bias", forget_bias,
            f"null with model.init={init}: it is the value b_f is set to with model.init=forget_bias (to add "
            f"{forget_bias} to PyTorch's b_f instead, write model.forget_bias_add={forget_bias})")
    require(init == "default" or forget_bias_add is None, "model.forget_bias_add", forget_bias_add,
            f"null with model.init={init}: it is added to PyTorch's b_f with model.init=default only")
    H = b_ih.numel() // len(rows)
    block = {k: slice(n * H, (n + 1) * H) for n, k in enumerate(rows)}
    if "f" in block:
        f, sign = block["f"], 1.0
    elif coupled:
        f, sign = block["i"], -1.0  # b_f is -b_i
    else:  # no forget gate: nothing to initialise
        require(init == "default", "model.init", init, f"default for variant {variant} (it has no forget gate)")
        require(not forget_bias_add, "model.forget_bias_add", forget_bias_add,
                f"null for variant {variant} (it has no forget gate)")
        return

    def put(part: slice, value) -> None:  # the sum bias_ih + bias_hh becomes exactly `value`
        b_ih[part] = value
        b_hh[part] = 0.0

    with torch.no_grad():
        if init == "default":
            b_ih[f] += sign * (forget_bias_add or 0.0)
        elif init == "forget_bias":
            put(f, sign * (FORGET_BIAS if forget_bias is None else forget_bias))
        else:
            require(isinstance(chrono_tmax, (int, float)) and chrono_tmax > 2, "model.chrono_tmax", chrono_tmax,
                    "a horizon T_max > 2 (null takes the task's: 3T/2 for copy, T for adding; other tasks need one)")
            b_f = b_ih.new_empty(H).uniform_(1.0, chrono_tmax - 1.0).log_()
            put(f, sign * b_f)
            if "f" in block and "i" in block:
                put(block["i"], -b_f)
