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


def convert_onnx(raw: bytes, arch: str = "u2netp") -> dict[str, torch.Tensor]:
    """A published U^2-Net export's initializers (`arch` u2netp or u2net) as a state dict of our
    network, mapped by Conv node order, shapes checked."""
    import onnx
    import torch
    from onnx import numpy_helper

    from render.u2net import U2NetFull, U2NetP

    graph = onnx.load_from_string(raw).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    conv_nodes = [n for n in graph.node if n.op_type == "Conv"]
    if any(n.op_type == "BatchNormalization" for n in graph.node):
        raise WeightsError("expected an export with BatchNorm folded into the convolutions")
    model = U2NetP() if arch == "u2netp" else U2NetFull()
    layers = model.conv_layers()
    if len(conv_nodes) != len(layers):
        raise WeightsError(f"{len(conv_nodes)} Conv nodes, the network has {len(layers)}")
    names = {id(p): name for name, p in model.named_parameters()}
    state: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for index, (node, layer) in enumerate(zip(conv_nodes, layers, strict=True)):
        if len(node.input) != 3:
            raise WeightsError(f"Conv node {index} has no bias")
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if list(attrs.get("dilations", [1, 1])) != list(layer.dilation):
            raise WeightsError(f"Conv node {index}: dilation {attrs.get('dilations')} != {layer.dilation}")
        assert layer.bias is not None
        for param, key in ((layer.weight, node.input[1]), (layer.bias, node.input[2])):
            array = inits[key]
            if tuple(array.shape) != tuple(param.shape):
                raise WeightsError(f"Conv node {index}: {key} has shape {array.shape}, expected {tuple(param.shape)}")
            state[names[id(param)]] = torch.from_numpy(array.copy()).float()
            used.add(key)
    if len(used) != len(inits) or set(state) != set(model.state_dict()):
        raise WeightsError(f"{len(inits) - len(used)} initializers left unmapped")
    return state
