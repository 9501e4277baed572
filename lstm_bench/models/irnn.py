"""`model=irnn`: the IRNN of Le, Jaitly & Hinton 2015, a ReLU RNN that starts as an identity map.

    h_t = relu(W_hh h_{t-1} + W_ih x_t + b),  W_hh = identity_scale * I,  b = 0,  W_ih ~ N(0, input_std^2)
With W_hh = I and small inputs, h is carried unchanged and its gradient through time neither
grows nor shrinks at the start: the RNN's answer to the LSTM's belt with f = 1.
"""
import torch
import torch.nn as nn

from lstm_bench.models.rnn import RNN
from lstm_bench.errors import require


class IRNN(RNN):
    name = "irnn"

    def __init__(self, input_size: int, hidden_size: int = 128, identity_scale: float = 1.0, input_std: float = 1e-3):
        require(input_std >= 0, "model.input_std", input_std, "a standard deviation >= 0")
        super().__init__(input_size, hidden_size, nonlinearity="relu")
        m = self.rnn
        with torch.no_grad():
            m.weight_hh_l0.copy_(identity_scale * torch.eye(hidden_size))
            nn.init.normal_(m.weight_ih_l0, 0.0, input_std)
            m.bias_ih_l0.zero_()
            m.bias_hh_l0.zero_()
