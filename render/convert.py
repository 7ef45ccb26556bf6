"""Map a state dict onto the folded U^2-Net: ours as is, or the original training checkpoint layout
(`...rebnconvin.conv_s1.weight` + `...bn_s1.*`), folding each BatchNorm into the conv before it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from render.errors import WeightsError

if TYPE_CHECKING:
    import torch

    from render.u2net import U2Net

_BN_EPS = 1e-5


def to_folded_state(state: dict[str, torch.Tensor], model: U2Net) -> dict[str, torch.Tensor]:
    """`state` in `model`'s own key names; strictness is left to `load_state_dict(strict=True)`."""
    if not any(key.endswith("running_mean") for key in state):
        return state
    names = {id(p): name for name, p in model.named_parameters()}
    layers = model.conv_layers()
    pairs = _conv_pairs(state)
    if len(pairs) != len(layers):
        raise WeightsError(f"{len(pairs)} convolutions in the file, {len(layers)} in the network")
    folded: dict[str, torch.Tensor] = {}
    for index, ((weight, bias), layer) in enumerate(zip(pairs, layers, strict=True)):
        if tuple(weight.shape) != tuple(layer.weight.shape):
            raise WeightsError(f"conv {index}: shape {tuple(weight.shape)} != {tuple(layer.weight.shape)}")
        assert layer.bias is not None
        folded[names[id(layer.weight)]] = weight
        folded[names[id(layer.bias)]] = bias
    return folded


def _conv_pairs(state: dict[str, torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    import torch

    pairs = []
    used: set[str] = set()
    for key, weight in state.items():
        if not key.endswith(".weight") or weight.dim() != 4:
            continue
        prefix = key.removesuffix(".weight")
        bias = state.get(prefix + ".bias", torch.zeros(weight.shape[0]))
        used.update({key, prefix + ".bias"})
        bn = prefix.removesuffix("conv_s1") + "bn_s1" if prefix.endswith("conv_s1") else None
        if bn is not None:
            try:
                gamma, beta = state[bn + ".weight"], state[bn + ".bias"]
                mean, var = state[bn + ".running_mean"], state[bn + ".running_var"]
            except KeyError as exc:
                raise WeightsError(f"{prefix} has no complete BatchNorm: {exc}") from None
            used.update(bn + s for s in (".weight", ".bias", ".running_mean", ".running_var", ".num_batches_tracked"))
            scale = gamma / torch.sqrt(var + _BN_EPS)
            weight = weight * scale[:, None, None, None]
            bias = (bias - mean) * scale + beta
        pairs.append((weight.float(), bias.float()))
    left = set(state) - used
    if left:
        raise WeightsError(f"unexpected keys: {sorted(left)[:3]}")
    return pairs
