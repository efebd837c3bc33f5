"""Distributed data-parallel (DDP) training: process groups, launching, sharding, reductions.

One machine, N processes::

    mspectmol train --devices N ...                         # mspectmol starts them itself
    torchrun --nproc-per-node N -m mspectmol train ...      # or torchrun does

With ``--device cpu`` the processes talk over gloo (give each a share of the cores:
``--threads``, default ``cores // N``); with ``--device cuda``/``auto`` over NCCL, process
``LOCAL_RANK`` on GPU ``LOCAL_RANK`` (``cuda:N`` is refused with more than one process).
Under torchrun leave ``--devices`` at 1: torchrun's ``--nproc-per-node`` sets the processes.

Several machines: run torchrun on every node with the same rendezvous arguments, e.g. two
nodes of 4 GPUs::

    torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d \\
        --rdzv-endpoint HOST:29500 --rdzv-id RUN_NAME -m mspectmol train --device cuda ...

``HOST`` is any node reachable from all (its port 29500 free); a fixed ``--node-rank K``
with ``--master-addr HOST --master-port 29500`` (instead of ``--rdzv-*``) works as well.
Every node must read the dataset (``--data``); only rank 0 writes the run folder, so
``--out`` need only exist there, but ``--resume RUN_DIR`` reads the run's checkpoint on every
rank and so needs ``RUN_DIR`` on a file system all nodes share.

What a run does (see :func:`~mspectmol.training.trainer.fit_neural`): ``batch_size`` is the
global batch. Step ``k`` of epoch ``e`` takes the same rows of
:func:`~mspectmol.data.batches.epoch_order` as a single process; rank ``r`` of ``w`` takes
rows ``r::w`` of them (:func:`shard_positions`) and weights its loss by ``w * rows /
batch rows``, so DDP's gradient average is the mean over the global batch. Every rank
therefore does the same number of steps, no row is dropped or repeated, and checkpoints
count the same steps for any number of processes (a run may resume with another
``--devices``). Augmentations are drawn for the whole global batch from the shared
generator, as a single process would. Results agree with a single-process run up to
floating-point order, torch's random draws (dropout, bottleneck noise: rank ``r > 0``
reseeds from ``(seed, r, epoch, step)`` every step) and BatchNorm, whose batch statistics
are per rank (its running statistics are rank 0's: DDP broadcasts buffers, and
:func:`sync_buffers` does again before validation). Validation predicts ``1/w`` of the rows
on each rank and sums the predictions (:func:`gather_rows`), so every rank sees the same
scores and makes the same early-stopping decision.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from mspectmol.errors import ConfigError, MspectmolError

ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
#: How long a collective waits for the other ranks (rank 0 evaluates while they wait).
TIMEOUT = timedelta(minutes=60)
_LOGGER = "mspectmol"


# --------------------------------------------------------------------------- state


def launched_by_torchrun() -> bool:
    """True when torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK) are set and no group yet."""
    return all(k in os.environ for k in ENV_KEYS) and not is_active()


def is_active() -> bool:
    """True inside an initialised process group."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's global rank (0 outside a process group)."""
    return dist.get_rank() if is_active() else 0


def world_size() -> int:
    """Number of processes (1 outside a process group)."""
    return dist.get_world_size() if is_active() else 1


def local_rank() -> int:
    """This process's rank on its machine (``LOCAL_RANK``; 0 outside a process group)."""
    return int(os.environ.get("LOCAL_RANK", "0")) if is_active() else 0


def is_main() -> bool:
    """True on rank 0, the one process that logs and writes files."""
    return rank() == 0


def process_device(name: str) -> torch.device:
    """The torch device of this process for the config device ``name``.

    Inside a process group CUDA means ``cuda:<LOCAL_RANK>``.

    Raises
    ------
    ConfigError
        For CUDA where it is unavailable, or ``cuda:N`` with several processes.
    """
    from mspectmol.models.inference import resolve_device

    device = resolve_device(name)
    if device.type != "cuda" or not is_active():
        return device
    if ":" in name and world_size() > 1:
        raise ConfigError(f"device {name!r}: with several processes each uses "
                          "cuda:<local rank>; use --device cuda")
    return torch.device("cuda", local_rank())


def backend_for(name: str) -> str:
    """``"nccl"`` for a CUDA config device, ``"gloo"`` otherwise."""
    from mspectmol.models.inference import resolve_device

    return "nccl" if resolve_device(name).type == "cuda" else "gloo"


def init_process_group(device: str) -> None:
    """Join the process group described by RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT.

    ``device`` is the config device; it picks the backend (:func:`backend_for`).

    Raises
    ------
    ConfigError
        When a variable is missing, or CUDA has fewer GPUs than processes on this machine.
    """
    missing = [k for k in (*ENV_KEYS, "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise ConfigError(f"distributed training needs the variables {', '.join(missing)} "
                          "(set by torchrun or mspectmol train --devices)")
    backend = backend_for(device)
    if backend == "nccl":
        local = int(os.environ["LOCAL_RANK"])
        if local >= torch.cuda.device_count():
            raise ConfigError(f"process {local} on this machine has no GPU (only "
                              f"{torch.cuda.device_count()})")
        torch.cuda.set_device(local)
    dist.init_process_group(backend, timeout=TIMEOUT)


def destroy_process_group() -> None:
    """Leave the process group (nothing outside one)."""
    if is_active():
        dist.destroy_process_group()


@contextlib.contextmanager
def process_group(device: str) -> Iterator[None]:
    """:func:`init_process_group`, then :func:`destroy_process_group` on the way out.

    On a normal exit every rank first waits at a barrier, so no rank tears down its
    connections while another still finishes its last collective.
    """
    init_process_group(device)
    try:
        yield
        if is_active():
            dist.barrier()
    finally:
        destroy_process_group()


# --------------------------------------------------------------------------- logging


def quiet_other_ranks() -> None:
    """On ranks other than 0: errors only on the console and no log file."""
    if is_main():
        return
    logger = logging.getLogger(_LOGGER)
    for handler in list(logger.handlers):
        if isinstance(handler, logging.FileHandler):
            logger.removeHandler(handler)
            handler.close()
        else:
            handler.setLevel(max(handler.level, logging.ERROR))


def _log_setup() -> dict[str, Any]:
    """The ``mspectmol`` logger's level and handlers as plain data, for child processes."""
    logger = logging.getLogger(_LOGGER)
    handlers = []
    for h in logger.handlers:
        fmt = h.formatter._fmt if h.formatter is not None else None  # noqa: SLF001
        if isinstance(h, logging.FileHandler):
            handlers.append(("file", h.level, fmt, h.baseFilename))
        elif isinstance(h, logging.StreamHandler):
            handlers.append(("stream", h.level, fmt, None))
    return {"level": logger.level, "propagate": logger.propagate, "handlers": handlers}


def _apply_log_setup(setup: Mapping[str, Any], this_rank: int) -> None:
    logger = logging.getLogger(_LOGGER)
    logger.handlers.clear()
    logger.setLevel(setup["level"])
    logger.propagate = setup["propagate"]
    for kind, level, fmt, path in setup["handlers"]:
        if kind == "file" and this_rank != 0:
            continue
        handler = (logging.FileHandler(path, encoding="utf-8") if kind == "file"
                   else logging.StreamHandler(sys.stderr))
        handler.setLevel(level if this_rank == 0 else max(level, logging.ERROR))
        handler.setFormatter(logging.Formatter(fmt))
        logger.addHandler(handler)


# --------------------------------------------------------------------------- launching


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _child(index: int, nprocs: int, port: int, target: Callable[..., Any],
           args: Sequence[Any], device: str, threads: int, log_setup: Mapping[str, Any],
           folder: str) -> None:
    """Body of a process started by :func:`launch`."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(index),
                      LOCAL_RANK=str(index), WORLD_SIZE=str(nprocs),
                      LOCAL_WORLD_SIZE=str(nprocs))
    _apply_log_setup(log_setup, index)
    torch.set_num_threads(threads)
    try:
        with process_group(device):
            result = target(*args)
    except MspectmolError as exc:
        Path(folder, f"error-{index}.txt").write_text(str(exc), encoding="utf-8")
        _leave(2)
    if index == 0:
        with open(Path(folder, "result.pkl"), "wb") as fh:
            pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
    _leave(0)


def _leave(code: int) -> None:
    """End a child process now: flush the logs and streams, then ``os._exit(code)``.

    Skipping interpreter finalisation matters: objects still holding a gloo group (a DDP
    reducer, say) destroyed during finalisation can abort the process ("terminate called
    without an active exception", SIGABRT) after its work is done.
    """
    for handler in logging.getLogger(_LOGGER).handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def launch(target: Callable[..., Any], nprocs: int, args: Sequence[Any] = (), *,
           device: str = "cpu", threads: int | None = None) -> Any:
    """Run ``target(*args)`` in ``nprocs`` new processes forming a process group.

    The processes are started with ``torch.multiprocessing`` (spawn) on this machine, with
    torchrun's variables set (rendezvous on a free port of 127.0.0.1), so ``target`` sees
    :func:`rank`, :func:`world_size` and an initialised group. Rank 0 logs like this process;
    the others log errors only.

    Parameters
    ----------
    target
        A module-level function (it is pickled by name).
    nprocs
        Number of processes.
    args
        Its arguments (pickled once per process).
    device
        Config device: gloo for the CPU, NCCL (one GPU per process) for CUDA.
    threads
        Torch threads per process (default: this process's threads divided by ``nprocs``).

    Returns
    -------
    Any
        Rank 0's return value.

    Raises
    ------
    MspectmolError
        With the message of a rank that failed with one (the others are stopped).
    ConfigError
        For CUDA with fewer GPUs than ``nprocs``.
    """
    import torch.multiprocessing as mp

    if nprocs < 1:
        raise ConfigError(f"need at least one process, got {nprocs}")
    if backend_for(device) == "nccl" and torch.cuda.device_count() < nprocs:
        raise ConfigError(f"{nprocs} processes on CUDA need {nprocs} GPUs; this machine has "
                          f"{torch.cuda.device_count()}")
    per_process = threads or max(1, torch.get_num_threads() // nprocs)
    with tempfile.TemporaryDirectory(prefix="mspectmol-ddp-") as folder:
        try:
            mp.start_processes(_child, nprocs=nprocs, start_method="spawn",
                               args=(nprocs, free_port(), target, tuple(args), device,
                                     per_process, _log_setup(), folder))
        except (mp.ProcessExitedException, mp.ProcessRaisedException):
            errors = sorted(Path(folder).glob("error-*.txt"))
            if errors:
                text = errors[0].read_text(encoding="utf-8")
                raise MspectmolError(text if len(errors) == 1 else
                                     f"{text} (and {len(errors) - 1} more processes)") from None
            raise
        with open(Path(folder, "result.pkl"), "rb") as fh:
            return pickle.load(fh)  # noqa: S301 - written by our own child process


# --------------------------------------------------------------------------- training


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` in :class:`~torch.nn.parallel.DistributedDataParallel` inside a group."""
    if not is_active():
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, output_device=ids and ids[0])


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (``model`` itself otherwise)."""
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def step_seed(seed: int, epoch: int, step: int) -> None:
    """Reseed torch on ranks other than 0 from (seed, rank, epoch, step).

    Ranks then draw different dropout and noise for their rows (rank 0 keeps the
    generator a single process has), and a resumed run draws as an uninterrupted one.
    """
    if rank() == 0:
        return
    words = np.random.SeedSequence([seed, rank(), epoch, step]).generate_state(2, np.uint32)
    torch.manual_seed(int(words[0]) << 32 | int(words[1]))


def _comm_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def sum_values(values: Mapping[str, float]) -> dict[str, float]:
    """``values`` summed over the ranks (as they are outside a group); same keys everywhere."""
    if not is_active() or not values:
        return dict(values)
    t = torch.tensor(list(values.values()), dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    return dict(zip(values, t.tolist(), strict=True))


def gather_rows(fn: Callable[[np.ndarray], np.ndarray], n: int, n_cols: int) -> np.ndarray:
    """``fn(rows)`` for rows ``0..n-1``, each rank computing a contiguous ``1/world``.

    ``fn`` maps row indices to an ``(len(rows), n_cols)`` array; the parts are summed into a
    float64 ``(n, n_cols)`` array identical on every rank. Outside a group: ``fn(all rows)``.
    """
    if not is_active():
        return np.asarray(fn(np.arange(n)), dtype=np.float64)
    rows = np.array_split(np.arange(n), world_size())[rank()]
    full = np.zeros((n, n_cols), dtype=np.float64)
    if rows.size:
        full[rows] = fn(rows)
    t = torch.from_numpy(full).to(_comm_device())
    dist.all_reduce(t)
    return t.cpu().numpy()


def sync_buffers(model: nn.Module) -> None:
    """Copy rank 0's buffers (e.g. BatchNorm running statistics) to every rank."""
    if not is_active():
        return
    for buffer in model.buffers():
        dist.broadcast(buffer.data, src=0)


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (``obj`` itself outside a group)."""
    if not is_active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
