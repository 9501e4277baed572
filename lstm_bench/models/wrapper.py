"""The one wrapper every recurrence shares: encode the input, run the recurrence, read out.

Only the recurrence differs between models, so a comparison of models is a comparison of
recurrences. A recurrence is an nn.Module with
    hidden_size                      int
    forward(x, state=None)           x (B, T, E) -> out (B, T, H), final state
    step(x_t, state)                 the per-step twin with the same weights:
                                     x_t (B, E) -> new state, dict of gate values (maybe empty)
    init_state(B, device, dtype)     the zero state
where a state is a tuple of (B, H) tensors whose first element is h (an LSTM's is (h, c)).
"""
import torch
import torch.nn as nn


class SeqModel(nn.Module):
    def __init__(self, recurrence: nn.Module, task, embed_size: int):
        super().__init__()
        # symbols get an embedding, real values a linear map: the recurrence sees (B, T, E) either way
        if task.vocab_size is not None:
            self.encoder = nn.Embedding(task.vocab_size, embed_size)
        else:
            self.encoder = nn.Linear(task.n_features, embed_size)
        self.recurrence = recurrence
        self.readout = nn.Linear(recurrence.hidden_size, task.n_out)
        self.read_last = task.readout == "last"

    def forward(self, x: torch.Tensor, state=None):
        e = self.encoder(x)  # (B, T, E)
        hs, state = self.recurrence(e, state)  # (B, T, H)
        return self.read(hs), state

    def read(self, hs: torch.Tensor) -> torch.Tensor:
        if self.read_last:
            hs = hs[:, -1]  # (B, H)
        return self.readout(hs)  # (B, T, n_out) or (B, n_out)

    def unroll(self, x: torch.Tensor):
        """forward() through the per-step twin, keeping what fused kernels hide: every state and
        gate. The diagnostics differentiate the loss with respect to these states.
        Returns out (as forward), states (T state tuples) and gates (T dicts of (B, H))."""
        hs, states, gates = step_through(self.recurrence, self.encoder(x))
        return self.read(hs), states, gates


def step_through(recurrence: nn.Module, e: torch.Tensor) -> tuple[torch.Tensor, list, list[dict]]:
    """A recurrence's per-step twin over a whole (B, T, E) input from the zero state: hs (B, T, H), the T states
    and the T dicts of gate values. The one step-by-step unroll (the diagnostics' and the twin tests')."""
    B = e.shape[0]
    state = recurrence.init_state(B, e.device, e.dtype)
    states, gates = [], []
    for x_t in e.unbind(dim=1):  # not e[:, t]: its backward would fill a zero (B, T, E) per step
        state, g = recurrence.step(x_t, state)
        states.append(state)
        gates.append(g)
    return torch.stack([s[0] for s in states], dim=1), states, gates  # hs (B, T, H)
