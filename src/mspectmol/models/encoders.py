"""Spectral encoders (paper eq. 4-5) and validation of model input batches.

:class:`SpectrumEncoder` is the stack of ``Conv1D -> BatchNorm -> ReLU -> MaxPool1D(2)`` stages
that the paper applies to each spectrum; convolutions use "same" padding (odd kernels), so
``n_points`` points come out as ``n_points // 2**n_stages`` bands (600 -> 150 for two stages,
the band axis of the paper's importance maps, Fig. 5 and 7). The 1-D convolutions are run as
``(1 x k)`` 2-D convolutions in channels-last layout: the same arithmetic, but oneDNN trains
them ~1.5x faster on CPU, and the output's memory is already ``(batch, bands, channels)``, the
layout the gates need, so transposing it costs no copy.

:func:`prepare_batch` checks a ``{modality: tensor}`` batch and its availability masks once,
for every model in :mod:`mspectmol.models`, and zeroes missing spectra.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mspectmol.errors import MspectmolError, SpectrumError
from mspectmol.models.batch_checks import batch_size, canonical_keys, check_required


def conv_stage(in_channels: int, out_channels: int, kernel_size: int, *, bias: bool = True
               ) -> nn.Sequential:
    """One ``Conv('same') -> BatchNorm -> ReLU -> MaxPool(2)`` stage along the last axis.

    Works on ``(batch, channels, 1, length)`` tensors (see the module docstring).
    """
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise MspectmolError(f"kernel_size must be a positive odd integer, got {kernel_size}")
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, (1, kernel_size), padding=(0, kernel_size // 2),
                  bias=bias),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.MaxPool2d((1, 2)),
    )


def encoded_length(n_points: int, n_stages: int) -> int:
    """Number of bands left after ``n_stages`` pool-2 stages (floor division each time)."""
    length = int(n_points)
    for _ in range(n_stages):
        length //= 2
    return length


class SpectrumEncoder(nn.Module):
    """Convolutional encoder of one (possibly multi-channel) spectrum.

    Parameters
    ----------
    in_channels
        Input channels (1 for one spectrum; K for K spectra stacked as channels).
    channels
        Output channels of each stage, e.g. ``(32, 64)``.
    kernel_size
        Odd convolution kernel length (11 in the paper's baselines and ours).
    bias
        Whether convolutions carry a bias (kept True to match published parameter counts).
    """

    def __init__(self, in_channels: int = 1, channels: Sequence[int] = (32, 64),
                 kernel_size: int = 11, *, bias: bool = True) -> None:
        super().__init__()
        if not channels:
            raise MspectmolError("an encoder needs at least one convolution stage")
        stages, previous = [], in_channels
        for width in channels:
            stages.append(conv_stage(previous, int(width), kernel_size, bias=bias))
            previous = int(width)
        self.stages = nn.Sequential(*stages).to(memory_format=torch.channels_last)
        self.in_channels = int(in_channels)
        self.out_channels = previous
        self.n_stages = len(stages)

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, n_points)`` or ``(batch, in_channels, n_points)`` -> ``(batch, C, bands)``.

        The result is a view whose memory is ordered ``(batch, bands, C)``: its
        ``transpose(1, 2)`` is contiguous.
        """
        x = x.reshape(x.shape[0], self.in_channels, 1, x.shape[-1])
        x = x.contiguous(memory_format=torch.channels_last)
        if self.training or torch.is_grad_enabled():
            return self.stages(x).squeeze(2)
        for stage in self.stages:
            x = _folded_stage(stage, x)
        return x.squeeze(2)


def _folded_stage(stage: nn.Sequential, x: Tensor) -> Tensor:
    """One stage in eval mode with BatchNorm folded into the convolution.

    ``BN(conv(x))`` with running statistics is ``conv'(x)`` with weights scaled by
    ``gamma / sqrt(var + eps)`` and a shifted bias; the ReLU then runs after the pooling
    (max-pooling and ReLU commute), on half the values. Same result as ``stage(x)`` up to
    float rounding, and several times faster on CPU (``benchmarks/bench_inference.py``).
    """
    conv, bn, _, _ = stage
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    weight = (conv.weight * scale.view(-1, 1, 1, 1)).contiguous(
        memory_format=torch.channels_last)  # oneDNN's fast path needs both in this layout
    bias = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    return pool_pairs_relu(nn.functional.conv2d(x, weight, bias, padding=conv.padding))


def pool_pairs_relu(y: Tensor) -> Tensor:
    """``relu(max_pool2d(y, (1, 2)))`` of a channels-last ``(batch, C, 1, L)`` tensor.

    The maximum of each pair of neighbouring points taken on the ``(batch, L, C)`` memory
    directly: the same values as ``max_pool2d`` (which also computes indices) several times
    faster on CPU; an odd last point is dropped, as pooling does.
    """
    size, channels, _, length = y.shape
    pairs = y.permute(0, 2, 3, 1)[:, 0, : length - length % 2].reshape(
        size, length // 2, 2, channels)
    out = torch.maximum(pairs[:, :, 0], pairs[:, :, 1]).clamp_min_(0.0)
    return out.view(size, 1, length // 2, channels).permute(0, 3, 1, 2)


@dataclass
class Batch:
    """A validated input batch.

    Attributes
    ----------
    spectra
        ``{modality: (batch, n_points) float tensor}`` for every requested modality, with
        missing spectra set to zeros.
    available
        ``{modality: (batch,) bool tensor}``.
    size
        Batch size.
    """

    spectra: dict[str, Tensor]
    available: dict[str, Tensor]
    size: int


def _check_spectrum(name: str, x: Tensor, n_points: int) -> Tensor:
    if not isinstance(x, Tensor):
        raise SpectrumError(f"{name} spectra must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 3 and x.shape[1] == 1:
        x = x[:, 0]
    if x.dim() != 2 or x.shape[1] != n_points:
        raise SpectrumError(
            f"{name} spectra must have shape (batch, {n_points}) (interpolated to the model "
            f"grid), got {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise SpectrumError(f"{name} spectra must be floating point, got {x.dtype}")
    return x


def _check_mask(name: str, mask: Tensor, size: int) -> Tensor:
    mask = torch.as_tensor(mask)
    if mask.dim() != 1 or mask.shape[0] != size:
        raise MspectmolError(
            f"availability mask of {name} must have shape ({size},), got {tuple(mask.shape)}"
        )
    return mask.to(torch.bool)


def prepare_batch(spectra: Mapping[str, Tensor], available: Mapping[str, Tensor] | None,
                  modalities: Sequence[str], n_points: int, *, required: Sequence[str] = (),
                  dtype: torch.dtype | None = None) -> Batch:
    """Validate a batch, fill absent modalities with zeros and zero unavailable rows.

    Parameters
    ----------
    spectra
        ``{modality name or alias: (batch, n_points) tensor}``. Modalities not in
        ``modalities`` are ignored; a modality in ``modalities`` that is absent is treated as
        missing for the whole batch (unless it is ``required``).
    available
        Optional ``{modality: (batch,) bool}``; False rows are missing (their values, which may
        be NaN, are replaced by zeros). Modalities not named are available where present.
    modalities
        Canonical names the model uses.
    n_points
        Expected spectrum length.
    required
        Modalities that must be present as keys.
    dtype
        Floating dtype to cast the spectra to (the model's parameter dtype).

    Raises
    ------
    SpectrumError
        Wrong shape/dtype, non-finite values in an available spectrum.
    MspectmolError
        Missing required modality, inconsistent batch sizes, bad masks, empty batch, a sample
        with no available spectrum.
    """
    given = {m: v for m, (_, v) in canonical_keys(spectra, "the spectra batch").items()}
    masks = {m: v for m, (_, v)
             in canonical_keys(available or {}, "the availability masks").items()}
    check_required(given, required)
    present = {m: _check_spectrum(m, given[m], n_points) for m in modalities if m in given}
    if dtype is not None:
        present = {m: x.to(dtype) for m, x in present.items()}
    size = batch_size(present, modalities)
    ref = next(iter(present.values()))
    out_x: dict[str, Tensor] = {}
    out_m: dict[str, Tensor] = {}
    for name in modalities:
        if name not in present:
            out_x[name] = ref.new_zeros(size, n_points)
            out_m[name] = torch.zeros(size, dtype=torch.bool, device=ref.device)
            continue
        x = present[name]
        if name in masks:
            mask = _check_mask(name, masks[name], size).to(x.device)
            if not bool(mask.all()):
                x = torch.where(mask.unsqueeze(1), x, x.new_zeros(()))
        else:
            mask = torch.ones(size, dtype=torch.bool, device=x.device)
        # one cheap reduction; the elementwise test only when the sum is not finite
        if not bool(torch.isfinite(x.sum())) and not bool(torch.isfinite(x).all()):
            raise SpectrumError(f"{name} spectra contain NaN or infinite values in rows marked "
                                "available")
        out_x[name], out_m[name] = x, mask
    if not bool(torch.stack(list(out_m.values())).any(dim=0).all()):
        raise MspectmolError("every sample needs at least one available spectrum")
    return Batch(spectra=out_x, available=out_m, size=size)
