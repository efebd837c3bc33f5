"""PA-IB inference in NumPy: the eval-mode forward pass and input gradients, without torch.

:class:`NumpyPAIB` runs a trained :class:`~mspectmol.models.pa_ib.PAIBModel` from its weights
(``{name: array}`` as in ``model.safetensors``) the way the torch module runs in eval mode:

* **Encoders** (:mod:`mspectmol.models.encoders`): each ``Conv('same') -> BatchNorm -> ReLU ->
  MaxPool(2)`` stage with the batch norm's running statistics folded into the convolution
  (as the torch module does under ``inference_mode``), pooled, then biased and rectified
  (max-pooling commutes with both). Convolutions are matrix products: one over ``k``-point
  windows for a stage with few input channels, else one per kernel tap on shifted views.
* **Gates** (:mod:`mspectmol.models.gates`): deterministic, ``lambda = p = sigmoid(MLP(...))``
  and ``T = mu + p (H - mu)``, ``mu`` the per-sample, per-channel mean of ``H`` over the bands
  (detached in torch, so no gradient flows through it here either); no noise, no sampling.
* **Readouts and fused head**: flatten ``T`` band by band, ``Linear -> ReLU`` (dropout is off
  in eval mode), zero the readouts of unavailable modalities, ``Linear -> ReLU -> Linear``.
  The head ``p(Y | T_m)`` of training is not run: predictions use the fused logits.

:meth:`NumpyPAIB.input_gradient` is reverse-mode differentiation of one logit per row through
the same layers (the quantity :func:`mspectmol.explain.importance.group_attribution` gets from
torch autograd): fused head, readouts, the auxiliary gates (whose input ``H^m || H^a || T^m``
sends gradient to the primary's features and bottleneck), the primary gate, then each encoder's
stages backwards (ReLU mask, max-pool to the larger of each pair, the first on a tie as torch
does, transposed convolution). Unavailable rows of a spectrum are zeros and get zero gradient.

Arithmetic is float32 like the torch model's (float64 on request); results agree with torch to
float rounding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mspectmol.errors import MspectmolError
from mspectmol.models.batch_checks import canonical_keys
from mspectmol.models.numpy_layers import (
    Dense,
    conv_stage,
    dense_layer,
    prepare_arrays,
    sigmoid,
)
from mspectmol.spectra.modalities import get_modality

#: Defaults of the :class:`~mspectmol.models.pa_ib.PAIBConfig` fields that shape the network.
ARCHITECTURE_DEFAULTS: dict[str, Any] = {
    "primary": "ir", "auxiliary": ("h_nmr", "c_nmr"), "n_points": 600, "channels": (16, 32),
    "kernel_size": 11, "gate_hidden": 32, "head_hidden": 128, "n_labels": 37,
    "primary_head_alone": False, "input_compression": 0.0}
#: The fields of :class:`~mspectmol.models.pa_ib.PAIBConfig`, in its order; those not in
#: :data:`ARCHITECTURE_DEFAULTS` only matter in training.
CONFIG_FIELDS = ("primary", "auxiliary", "n_points", "channels", "kernel_size", "gate_hidden",
                 "head_hidden", "dropout", "n_labels", "temperature", "alpha", "beta",
                 "aux_weight", "mi1_weight", "prior", "label_weighting", "primary_head_alone",
                 "input_compression")


def compress(x: np.ndarray, c: float, dtype: Any) -> np.ndarray:
    """:func:`mspectmol.models.pa_ib.compress` in NumPy (``x`` itself when ``c`` is 0)."""
    if not c:
        return x
    return (np.log1p(np.maximum(x, 0) * c) / np.log1p(c)).astype(dtype, copy=False)


def compress_slope(x: np.ndarray, c: float, dtype: Any) -> np.ndarray | float:
    """Derivative of :func:`compress` at ``x`` (0 where ``x`` < 0, as torch's clamp)."""
    if not c:
        return 1.0
    return np.where(x >= 0, c / ((1 + c * np.maximum(x, 0)) * np.log1p(c)), 0).astype(dtype)


@dataclass(frozen=True)
class _Gate:
    """Band gate MLP ``Linear -> ReLU -> Linear(1)`` and the eval-mode bottleneck."""

    hidden: Dense
    out: Dense


@dataclass
class NumpyPAIBOutput:
    """What :meth:`NumpyPAIB.forward` returns.

    Attributes
    ----------
    logits
        Fused logits ``(n, n_labels)`` float32.
    gate_probs
        ``{modality: (n, n_bands)}`` keep probabilities, zero where unavailable.
    available
        ``{modality: (n,) bool}`` availability used.
    fused
        ``(n, head_hidden * n_modalities)`` input of the fused head (the out-of-distribution
        score's representation, :mod:`mspectmol.models.ood`).
    """

    logits: np.ndarray
    gate_probs: dict[str, np.ndarray]
    available: dict[str, np.ndarray]
    fused: np.ndarray


def architecture(config: Mapping[str, Any]) -> dict[str, Any]:
    """The network-shaping fields of a PA-IB config dict, checked (defaults filled in).

    Raises
    ------
    MspectmolError
        For an unknown key, an unknown or repeated modality, or impossible sizes.
    """
    unknown = sorted(set(config) - set(CONFIG_FIELDS))
    if unknown:
        raise MspectmolError(f"unknown config key(s) {', '.join(unknown)}; known: "
                             f"{', '.join(CONFIG_FIELDS)}")
    arch = {k: config.get(k, v) for k, v in ARCHITECTURE_DEFAULTS.items()}
    arch["primary"] = get_modality(arch["primary"]).name
    arch["auxiliary"] = tuple(get_modality(m).name for m in arch["auxiliary"])
    arch["channels"] = tuple(int(c) for c in arch["channels"])
    names = (arch["primary"], *arch["auxiliary"])
    if len(set(names)) != len(names):
        raise MspectmolError(f"primary and auxiliary modalities must differ, got {names}")
    sizes = ("n_points", "kernel_size", "gate_hidden", "head_hidden", "n_labels")
    if any(not int(arch[k]) > 0 for k in sizes) or not arch["channels"] \
            or min(arch["channels"]) < 1 or int(arch["kernel_size"]) % 2 == 0:
        raise MspectmolError(f"impossible PA-IB sizes: {arch}")
    if int(arch["n_points"]) >> len(arch["channels"]) < 1:
        raise MspectmolError(f"n_points={arch['n_points']} is too short for "
                             f"{len(arch['channels'])} pool-2 stages")
    return arch


def weight_shapes(arch: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Name and shape of every tensor of a PA-IB state dict (as ``PAIBModel.state_dict()``)."""
    mods = (arch["primary"], *arch["auxiliary"])
    k, hid, gh = int(arch["kernel_size"]), int(arch["head_hidden"]), int(arch["gate_hidden"])
    width = arch["channels"][-1]
    flat = (int(arch["n_points"]) >> len(arch["channels"])) * width
    out: dict[str, tuple[int, ...]] = {}
    for m in mods:
        previous = 1
        for s, c in enumerate(arch["channels"]):
            p = f"encoders.{m}.stages.{s}"
            out |= {f"{p}.0.weight": (c, previous, 1, k), f"{p}.0.bias": (c,),
                    f"{p}.1.weight": (c,), f"{p}.1.bias": (c,), f"{p}.1.running_mean": (c,),
                    f"{p}.1.running_var": (c,), f"{p}.1.num_batches_tracked": ()}
            previous = c
        gate_in = width if m == arch["primary"] else 3 * width
        out |= {f"gates.{m}.mlp.0.weight": (gh, gate_in), f"gates.{m}.mlp.0.bias": (gh,),
                f"gates.{m}.mlp.2.weight": (1, gh), f"gates.{m}.mlp.2.bias": (1,),
                f"readouts.{m}.1.weight": (hid, flat), f"readouts.{m}.1.bias": (hid,)}
    for head, width_in in (("head_primary", hid), ("head_fused", hid * len(mods))):
        out |= {f"{head}.0.weight": (hid, width_in), f"{head}.0.bias": (hid,),
                f"{head}.3.weight": (int(arch["n_labels"]), hid),
                f"{head}.3.bias": (int(arch["n_labels"]),)}
    return out


def check_weights(arch: Mapping[str, Any], weights: Mapping[str, np.ndarray]) -> None:
    """Raise unless ``weights`` has exactly the tensors of the architecture, shape for shape
    (torch's strict ``load_state_dict``)."""
    expected = weight_shapes(arch)
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    wrong = sorted(k for k in set(expected) & set(weights)
                   if tuple(np.shape(weights[k])) != expected[k])
    if missing or extra or wrong:
        parts = [f"{what}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
                 for what, keys in (("missing", missing), ("unexpected", extra),
                                    ("wrong shape", wrong)) if keys]
        raise MspectmolError("; ".join(parts))


class NumpyPAIB:
    """A trained PA-IB model run with NumPy in eval mode (see the module docstring).

    Parameters
    ----------
    config
        The model's config dict (``model.json``'s ``config``, as
        :meth:`~mspectmol.models.pa_ib.PAIBConfig.to_dict` writes it).
    weights
        ``{name: array}``, the tensors of ``PAIBModel.state_dict()``, all of them and no
        others (:func:`check_weights`).
    dtype
        Floating type of the arithmetic: float32 (the torch model's) or float64 (to check
        the implementation against a float64 torch model, away from float32 rounding).

    Raises
    ------
    MspectmolError
        For a bad config or weights that do not match it.
    """

    def __init__(self, config: Mapping[str, Any], weights: Mapping[str, np.ndarray], *,
                 dtype: type = np.float32) -> None:
        arch = architecture(config)
        check_weights(arch, weights)
        self.dtype = np.dtype(dtype).type
        self.primary: str = arch["primary"]
        self.auxiliary: tuple[str, ...] = arch["auxiliary"]
        self.modalities = (self.primary, *self.auxiliary)
        self.n_points = int(arch["n_points"])
        self.n_labels = int(arch["n_labels"])
        self.n_bands = self.n_points >> len(arch["channels"])
        self.width = int(arch["channels"][-1])
        self.compression = float(arch["input_compression"])
        t = self.dtype
        self._stages = {m: [conv_stage(weights, f"encoders.{m}.stages.{s}", t)
                            for s in range(len(arch["channels"]))] for m in self.modalities}
        self._gates = {m: _Gate(dense_layer(weights, f"gates.{m}.mlp.0", t),
                                dense_layer(weights, f"gates.{m}.mlp.2", t))
                       for m in self.modalities}
        self._readouts = {m: dense_layer(weights, f"readouts.{m}.1", t) for m in self.modalities}
        self._head = (dense_layer(weights, "head_fused.0", t),
                      dense_layer(weights, "head_fused.3", t))
        # rows without auxiliary spectra: the primary head (PAIBConfig.primary_head_alone)
        self._head_primary = ((dense_layer(weights, "head_primary.0", t),
                               dense_layer(weights, "head_primary.3", t))
                              if arch["primary_head_alone"] and self.auxiliary else None)

    def forward(self, spectra: Mapping[str, Any], available: Mapping[str, Any] | None = None,
                *, batch_size: int | None = None) -> NumpyPAIBOutput:
        """Logits, gate probabilities and fused representation of a batch.

        Parameters
        ----------
        spectra
            ``{modality: (n, n_points) array}``; the primary is required, an absent
            auxiliary modality is missing for every row, other keys are ignored.
        available
            Optional ``{modality: (n,) bool}`` masks.
        batch_size
            Rows per pass (None: all at once); the outputs are concatenated.
        """
        n = len(next(iter(spectra.values()), ()))
        if batch_size is None or n <= batch_size:
            return self._forward(spectra, available)[0]
        parts = [self._forward({m: np.asarray(x)[i:i + batch_size] for m, x in spectra.items()},
                               None if available is None else
                               {m: np.asarray(a)[i:i + batch_size]
                                for m, a in available.items()})[0]
                 for i in range(0, n, batch_size)]
        return NumpyPAIBOutput(
            np.concatenate([p.logits for p in parts]),
            {m: np.concatenate([p.gate_probs[m] for p in parts]) for m in self.modalities},
            {m: np.concatenate([p.available[m] for p in parts]) for m in self.modalities},
            np.concatenate([p.fused for p in parts]))

    def input_gradient(self, spectra: Mapping[str, Any], group: int | Sequence[int],
                       available: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
        """``d logit[row, group[row]] / d spectra[row]`` for every row (float32).

        Parameters
        ----------
        spectra, available
            As for :meth:`forward`.
        group
            The label whose logit is differentiated, one for all rows or one per row.

        Returns
        -------
        dict
            ``{key: (n, n_points)}`` for every key of ``spectra`` (zeros for a key the model
            does not use and for unavailable rows).
        """
        out, cache = self._forward(spectra, available)
        n = out.logits.shape[0]
        groups = np.broadcast_to(np.asarray(group, dtype=np.int64), (n,))
        if groups.size and not (0 <= groups.min() and groups.max() < self.n_labels):
            raise MspectmolError(f"group index {group} is outside 0..{self.n_labels - 1}")
        grads = self._backward(groups, cache)
        result = {}
        for name, (key, x) in canonical_keys(spectra, "the spectra batch").items():
            g = grads.get(name)
            result[key] = (np.zeros(np.shape(x)[:1] + (np.shape(x)[-1],), dtype=self.dtype)
                           if g is None else g)
        return result

    def _gate(self, m: str, gate_in: np.ndarray, h: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
        """Bottleneck ``T = mu + p (H - mu)``, keep probabilities ``p`` and the backward cache."""
        gate = self._gates[m]
        pre = gate.hidden(gate_in)
        p = sigmoid(gate.out(np.maximum(pre, 0))[..., 0])
        mu = h.mean(axis=1, keepdims=True)  # no gradient flows into mu (detached in torch)
        centred = h - mu
        return mu + p[..., None] * centred, p, (pre, p, centred)

    def _gate_back(self, m: str, grad_t: np.ndarray, cache: tuple[np.ndarray, ...]
                   ) -> tuple[np.ndarray, np.ndarray]:
        """Gradients of ``H`` (through ``T`` directly) and of the gate's input (through p)."""
        pre, p, centred = cache
        gate = self._gates[m]
        dlogit = (grad_t * centred).sum(axis=-1) * p * (1.0 - p)
        dpre = np.where(pre > 0, dlogit[..., None] * gate.out.weight[:, 0], 0)
        return grad_t * p[..., None], gate.hidden.back(dpre)

    def _forward(self, spectra: Mapping[str, Any], available: Mapping[str, Any] | None
                 ) -> tuple[NumpyPAIBOutput, dict[str, Any]]:
        x, avail = prepare_arrays(spectra, available, self.modalities, self.n_points,
                                  required=(self.primary,), dtype=self.dtype)
        cache: dict[str, Any] = {"avail": avail, "enc": {}, "gate": {}, "readout": {}, "x": x}
        feats = {}
        for m in self.modalities:
            h, caches = compress(x[m], self.compression, self.dtype)[:, :, None], []
            for stage in self._stages[m]:
                h, c = stage.forward(h)
                caches.append(c)
            feats[m], cache["enc"][m] = h, caches
        h_m = feats[self.primary]
        t_m, p_m, cache["gate"][self.primary] = self._gate(self.primary, h_m, h_m)
        bottleneck, probs = {self.primary: t_m}, {self.primary: p_m}
        for a in self.auxiliary:
            gate_in = np.concatenate((h_m, feats[a], t_m), axis=-1)
            bottleneck[a], probs[a], cache["gate"][a] = self._gate(a, gate_in, feats[a])
        parts = []
        for m in self.modalities:
            pre = self._readouts[m](bottleneck[m].reshape(len(h_m), -1))
            cache["readout"][m] = pre
            parts.append(np.maximum(pre, 0) * avail[m][:, None].astype(self.dtype))
        fused = np.concatenate(parts, axis=1)
        hidden = self._head[0](fused)
        cache["head"] = hidden
        logits = self._head[1](np.maximum(hidden, 0))
        cache["alone"] = None
        if self._head_primary is not None:
            alone = ~np.any([avail[a] for a in self.auxiliary], axis=0)
            if alone.any():
                hidden_p = self._head_primary[0](parts[0][alone])
                logits[alone] = self._head_primary[1](np.maximum(hidden_p, 0))
                cache["alone"], cache["head_primary"] = alone, hidden_p
        gate_probs = {m: p * avail[m][:, None].astype(self.dtype) for m, p in probs.items()}
        return NumpyPAIBOutput(logits, gate_probs, avail, fused), cache

    def _backward(self, groups: np.ndarray, cache: dict[str, Any]) -> dict[str, np.ndarray]:
        """``d logit[row, groups[row]] / d x`` of each modality, from the forward cache."""
        n, c = len(groups), self.width
        hidden = cache["head"]
        dhidden = np.where(hidden > 0, self._head[1].weight.T[groups], 0)
        dfused = self._head[0].back(dhidden)
        size = dfused.shape[1] // len(self.modalities)
        alone = cache["alone"]
        if alone is not None:  # those rows' logits come from the primary head alone
            head_p = self._head_primary
            dhidden_p = np.where(cache["head_primary"] > 0,
                                 head_p[1].weight.T[groups[alone]], 0)
            dfused[alone] = 0
            dfused[alone, :size] = head_p[0].back(dhidden_p)
        dt = {}
        for i, m in enumerate(self.modalities):
            dz = dfused[:, i * size:(i + 1) * size] * cache["avail"][m][:, None]
            dpre = np.where(cache["readout"][m] > 0, dz, 0).astype(self.dtype, copy=False)
            dt[m] = self._readouts[m].back(dpre).reshape(n, self.n_bands, c)
        dh: dict[str, np.ndarray] = {}
        dh_m = np.zeros((n, self.n_bands, c), dtype=self.dtype)
        dt_m = dt[self.primary]
        for a in self.auxiliary:
            direct, dgate_in = self._gate_back(a, dt[a], cache["gate"][a])
            dh[a] = direct + dgate_in[..., c:2 * c]
            dh_m += dgate_in[..., :c]
            dt_m = dt_m + dgate_in[..., 2 * c:]
        direct, dgate_in = self._gate_back(self.primary, dt_m, cache["gate"][self.primary])
        dh[self.primary] = dh_m + direct + dgate_in
        grads = {}
        for m in self.modalities:
            g = dh[m]
            for stage, stage_cache in zip(self._stages[m][::-1], cache["enc"][m][::-1],
                                          strict=True):
                g = stage.backward(g, stage_cache)
            g = g[:, :, 0] * compress_slope(cache["x"][m], self.compression, self.dtype)
            grads[m] = np.where(cache["avail"][m][:, None], g, 0)
        return grads
