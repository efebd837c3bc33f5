"""NumPy layers of the PA-IB network in eval mode, with the backward passes it needs.

:class:`Dense` is a linear layer, :class:`ConvStage` one encoder stage (``Conv('same') ->
BatchNorm -> ReLU -> MaxPool(2)``, :mod:`mspectmol.models.encoders`) with its batch norm's
running statistics folded into the convolution (:func:`conv_stage`), as the torch encoder
does under ``inference_mode``. Each has a ``back`` or ``backward`` that maps the gradient of
its output to that of its input (weights are constants here). :func:`prepare_arrays` is
:func:`mspectmol.models.encoders.prepare_batch` for NumPy arrays. Used by
:mod:`mspectmol.models.numpy_pa_ib`; float32 throughout, like the torch model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mspectmol.errors import MspectmolError, SpectrumError
from mspectmol.models.batch_checks import batch_size, canonical_keys, check_required

#: Epsilon of the encoders' batch norm (torch's default; not stored with the weights).
BN_EPS = 1e-5
F32 = np.float32
#: Input channels from which a stage convolves as one product per kernel tap, summed (fewer:
#: one product over ``k``-point windows, whose ``(n * L, C_in * k)`` copy costs more than the
#: products once ``C_in`` grows; at 4 the two took about the same time on 256 spectra).
TAPS_MIN_CHANNELS = 4


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function without overflow, in the dtype of ``x``."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


@dataclass(frozen=True)
class Dense:
    """``y = x @ weight + bias`` (``weight`` is torch's ``(out, in)`` transposed)."""

    weight: np.ndarray
    bias: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``(..., in)`` -> ``(..., out)``."""
        return x @ self.weight + self.bias

    def back(self, dy: np.ndarray) -> np.ndarray:
        """Gradient of the input from that of the output."""
        return dy @ self.weight.T


@dataclass(frozen=True)
class ConvStage:
    """One encoder stage with batch norm folded in: ``weight`` is ``(C_in * k, C_out)``
    (row ``c * k + j``: input channel ``c``, kernel tap ``j``)."""

    weight: np.ndarray
    bias: np.ndarray
    kernel: int

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, int]]:
        """``(n, L, C_in)`` -> ``(n, L // 2, C_out)`` and what :meth:`backward` needs.

        The bias is added after the pooling (a constant per channel: the same maxima)."""
        n, length, c_in = x.shape
        pad = self.kernel // 2
        padded = np.pad(x, ((0, 0), (pad, pad), (0, 0)))
        if c_in < TAPS_MIN_CHANNELS:  # one product over the k-point windows
            cols = sliding_window_view(padded, self.kernel, axis=1)  # (n, L, C_in, k)
            y = (cols.reshape(n * length, c_in * self.kernel) @ self.weight
                 ).reshape(n, length, -1)
        else:  # one product per tap, on shifted views: no (n * L, C_in * k) copy
            taps = self.weight.reshape(c_in, self.kernel, -1)
            y = padded[:, :length] @ taps[:, 0]
            for j in range(1, self.kernel):
                y += padded[:, j:j + length] @ taps[:, j]
        half = length // 2
        pairs = y[:, :2 * half].reshape(n, half, 2, -1)
        out = np.maximum(np.maximum(pairs[:, :, 0], pairs[:, :, 1]) + self.bias, 0.0)
        return out, (pairs, out, length)

    def backward(self, grad: np.ndarray, cache: tuple[np.ndarray, np.ndarray, int]
                 ) -> np.ndarray:
        """Gradient ``(n, L, C_in)`` of the stage input from that of its output."""
        pairs, out, length = cache
        # the larger of each pair gets the gradient; torch keeps the first of equal values
        second = pairs[:, :, 1] + self.bias > pairs[:, :, 0] + self.bias
        n, half, c_out = grad.shape
        g = np.where(out > 0, grad, 0)
        routed = np.stack((np.where(second, 0.0, g), np.where(second, g, 0.0)), axis=2)
        dy = np.zeros((n, length, c_out), dtype=g.dtype)  # an odd last point gets none
        dy[:, :2 * half] = routed.reshape(n, 2 * half, c_out)
        c_in = self.weight.shape[0] // self.kernel
        dcols = (dy.reshape(n * length, c_out) @ self.weight.T).reshape(n, length, c_in,
                                                                         self.kernel)
        pad = self.kernel // 2
        dpad = np.zeros((n, length + 2 * pad, c_in), dtype=dcols.dtype)
        for j in range(self.kernel):
            dpad[:, j:j + length] += dcols[..., j]
        return dpad[:, pad:pad + length]

def dense_layer(weights: Mapping[str, np.ndarray], name: str, dtype: type = F32) -> Dense:
    """The linear layer ``name`` (``name.weight`` and ``name.bias`` of a state dict)."""
    w = np.asarray(weights[f"{name}.weight"], dtype=dtype)
    return Dense(np.ascontiguousarray(w.T), np.asarray(weights[f"{name}.bias"], dtype=dtype))


def conv_stage(weights: Mapping[str, np.ndarray], prefix: str, dtype: type = F32
               ) -> ConvStage:
    """The encoder stage ``prefix`` of a state dict (``prefix.0``: convolution, ``prefix.1``:
    batch norm), its batch norm folded into the convolution: ``BN(conv(x)) = conv'(x)`` with
    weights scaled by ``gamma / sqrt(var + eps)`` and a shifted bias (computed in float64,
    stored in ``dtype``)."""
    conv = np.asarray(weights[f"{prefix}.0.weight"], dtype=np.float64)  # (C_out, C_in, 1, k)
    bn = {k: np.asarray(weights[f"{prefix}.1.{k}"], dtype=np.float64)
          for k in ("weight", "bias", "running_mean", "running_var")}
    scale = bn["weight"] / np.sqrt(bn["running_var"] + BN_EPS)
    bias = bn["bias"] - bn["running_mean"] * scale
    if f"{prefix}.0.bias" in weights:
        bias = bias + np.asarray(weights[f"{prefix}.0.bias"], dtype=np.float64) * scale
    c_out, c_in, _, k = conv.shape
    folded = (conv[:, :, 0, :] * scale[:, None, None]).reshape(c_out, c_in * k).T
    return ConvStage(np.ascontiguousarray(folded, dtype=dtype), bias.astype(dtype), int(k))

def _spectrum(name: str, x: Any, n_points: int, dtype: type) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim == 3 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 2 or arr.shape[1] != n_points:
        raise SpectrumError(f"{name} spectra must have shape (batch, {n_points}) (interpolated "
                            f"to the model grid), got {tuple(arr.shape)}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise SpectrumError(f"{name} spectra must be floating point, got {arr.dtype}")
    return arr.astype(dtype, copy=False)


def prepare_arrays(spectra: Mapping[str, Any], available: Mapping[str, Any] | None,
                   modalities: Sequence[str], n_points: int, *, required: Sequence[str] = (),
                   dtype: type = F32) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """:func:`mspectmol.models.encoders.prepare_batch` for arrays: checked spectra in
    ``dtype`` (zeros where unavailable or absent) and boolean availability, keyed by
    canonical name.

    Raises
    ------
    SpectrumError, MspectmolError
        As :func:`~mspectmol.models.encoders.prepare_batch`.
    """
    given = {m: v for m, (_, v) in canonical_keys(spectra, "the spectra batch").items()}
    masks = {m: v for m, (_, v)
             in canonical_keys(available or {}, "the availability masks").items()}
    check_required(given, required)
    present = {m: _spectrum(m, given[m], n_points, dtype) for m in modalities if m in given}
    size = batch_size(present, modalities)
    out_x: dict[str, np.ndarray] = {}
    out_m: dict[str, np.ndarray] = {}
    for name in modalities:
        if name not in present:
            out_x[name] = np.zeros((size, n_points), dtype=dtype)
            out_m[name] = np.zeros(size, dtype=bool)
            continue
        x = present[name]
        mask = np.ones(size, dtype=bool)
        if name in masks:
            mask = np.asarray(masks[name])
            if mask.ndim != 1 or mask.shape[0] != size:
                raise MspectmolError(f"availability mask of {name} must have shape ({size},), "
                                     f"got {tuple(mask.shape)}")
            mask = mask.astype(bool)
            if not mask.all():
                x = np.where(mask[:, None], x, 0)
        if not np.isfinite(x.sum()) and not np.isfinite(x).all():
            raise SpectrumError(f"{name} spectra contain NaN or infinite values in rows marked "
                                "available")
        out_x[name], out_m[name] = x, mask
    if not np.stack(list(out_m.values())).any(axis=0).all():
        raise MspectmolError("every sample needs at least one available spectrum")
    return out_x, out_m
