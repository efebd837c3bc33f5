"""Shared test settings: every test runs torch on one thread with a fixed seed.

One thread keeps timings and results steady on the 2-core CI machine (several tests start
worker processes of their own); a test module may override ``_seed_one_thread``.
"""

import math

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_one_thread():
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_random_dataset(root, *, n=120, seed=0, prefix="t"):
    """Write a tiny dataset folder shaped like the embedded one (index + one chunk).

    Random labels (20% positive), random peak lists for IR/Raman/1H/13C and fixed splits
    (80 train, 20 val, 20 test for ``n = 120``); used with ``--data`` by CLI tests.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mspectmol.chem.functional_groups import GROUP_NAMES

    rng = np.random.default_rng(seed)
    ids = [f"{prefix}-{i:04d}" for i in range(n)]
    labels = (rng.random((n, len(GROUP_NAMES))) < 0.2).astype(np.uint8)
    n_val = n // 6
    parts = np.array(["train"] * (n - 2 * n_val) + ["val"] * n_val + ["test"] * n_val)
    pq.write_table(pa.table({
        "id": ids, "smiles": ["C"] * n, "source": ["test"] * n,
        "heavy_atoms": np.ones(n, dtype=np.int64),
        "labels": pa.array(labels.tolist(), type=pa.list_(pa.uint8())),
        "split_random": parts.tolist(), "split_scaffold": rng.permutation(parts).tolist(),
    }), root / "index.parquet")

    def peaks(low, high, dtype):
        pos = [rng.uniform(low, high, rng.integers(1, 6)).astype(np.float32) for _ in range(n)]
        return pos, [rng.integers(1, 4, p.size).astype(dtype) for p in pos]

    freq, ir = peaks(500, 3900, np.float32)
    h, hc = peaks(0, 9, np.int16)
    c, cc = peaks(0, 200, np.int16)
    f32, i16 = pa.list_(pa.float32()), pa.list_(pa.int16())
    (root / "chunks").mkdir()
    pq.write_table(pa.table({
        "id": ids, "frequencies": pa.array(freq, f32), "ir_intensities": pa.array(ir, f32),
        "raman_activities": pa.array(ir, f32), "h_shift": pa.array(h, f32),
        "h_count": pa.array(hc, i16), "c_shift": pa.array(c, f32), "c_count": pa.array(cc, i16),
    }), root / "chunks" / "test-000.parquet")
    return root


@pytest.fixture(scope="session")
def random_dataset():
    """The :func:`write_random_dataset` helper, for module-scoped dataset fixtures."""
    return write_random_dataset


class SmallDisk:
    """A tiny tmpfs mounted for a test: ``path`` (its root) and :meth:`fill`."""

    def __init__(self, path):
        self.path = path

    def fill(self, leave=0):
        """Fill the file system up to ``leave`` free bytes (a file named ``filler``)."""
        import os

        st = os.statvfs(self.path)
        with open(self.path / "filler", "ab") as fh:
            fh.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))

    def files(self):
        """Relative path -> size of every file but the filler."""
        return {str(p.relative_to(self.path)): p.stat().st_size for p in self.path.rglob("*")
                if p.is_file() and p.name != "filler"}


@pytest.fixture
def small_disk(tmp_path):
    """Factory of :class:`SmallDisk` (``small_disk("256k")``): a real full disk for tests.

    Mounting needs root (CI runs as root); elsewhere the test is skipped with the reason.
    """
    import os
    import subprocess

    mounted = []

    def make(size="256k"):
        if not hasattr(os, "geteuid") or os.geteuid() != 0:
            pytest.skip("mounting a small tmpfs needs root")
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                               str(where)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
        mounted.append(where)
        return SmallDisk(where)

    yield make
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


#: Molecules of :func:`write_alberts_dataset` (rings and chains, so scaffold splits vary).
ALBERTS_SMILES = ["CCO", "c1ccccc1", "CC(=O)O", "CCN", "C=CC", "CC#N", "CC(=O)OC", "O=C1CCCCC1",
                  "c1ccncc1", "OCC(O)CO", "Cc1ccccc1O", "CCOC(=O)c1ccccc1", "ClCCCl", "CCS",
                  "NC(=O)c1ccccc1", "C1CCNCC1", "O=Cc1ccco1", "CC(C)=O", "c1ccc2ccccc2c1",
                  "CCCCBr", "OC1CCCC1", "c1ccsc1", "CC(N)C(=O)O", "FC(F)(F)c1ccccc1"]


def write_alberts_dataset(path, *, n=48, seed=0, row_group=16, bad_smiles_row=None,
                          old_msms_names=False):
    """Write an Alberts et al. style parquet chunk: SMILES, IR (1800 points), 1H and 13C
    (10000 points, descending axes) and CFM-ID MS/MS at 10/20/40 eV in both modes (lists of
    [m/z, intensity 0-100] pairs; row 1's negative-mode lists are empty). Returns ``path``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    smiles = [ALBERTS_SMILES[(seed + i) % len(ALBERTS_SMILES)] for i in range(n)]
    if bad_smiles_row is not None:
        smiles[bad_smiles_row] = "C1CC"

    def matrix(width):
        x = (rng.random((n, width)) ** 8).astype(np.float32)
        offsets = pa.array(np.arange(0, x.size + 1, width), pa.int32())
        return pa.ListArray.from_arrays(offsets, pa.array(x.ravel(), pa.float32()))

    cols = {"smiles": pa.array(smiles), "molecular_formula": pa.array(["X"] * n),
            "ir_spectra": matrix(1800), "h_nmr_spectra": matrix(10000),
            "c_nmr_spectra": matrix(10000)}
    prefix = "msms" if old_msms_names else "msms_cfmid"
    for mode in ("positive", "negative"):
        for energy in (10, 20, 40):
            rows = []
            for i in range(n):
                k = 0 if mode == "negative" and i == 1 else int(rng.integers(1, 12))
                mz = np.sort(rng.uniform(20.0, 400.0, k))
                top = rng.uniform(1.0, 100.0, k)
                rows.append(np.column_stack([mz, top / top.max(initial=1.0) * 100]).tolist())
            pairs = pa.list_(pa.list_(pa.float64()))
            cols[f"{prefix}_{mode}_{energy}ev"] = pa.array(rows, pairs)
    pq.write_table(pa.table(cols), path, row_group_size=row_group)
    return path


@pytest.fixture(scope="session")
def alberts_dataset():
    """The :func:`write_alberts_dataset` helper, for module-scoped parquet fixtures."""
    return write_alberts_dataset


def assert_same_document(got, want, where="$"):
    """Equal JSON structure, strings, booleans and integers; floats equal to float32
    rounding (the NumPy and torch engines' reports)."""
    if isinstance(want, float) and isinstance(got, (int, float)):
        assert math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-9), (where, got, want)
    elif isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), where
        for key, value in want.items():
            assert_same_document(got[key], value, f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (a, b) in enumerate(zip(got, want, strict=True)):
            assert_same_document(a, b, f"{where}[{i}]")
    else:
        assert got == want, (where, got, want)


@pytest.fixture(scope="session")
def same_document():
    """:func:`assert_same_document`, for tests comparing the engines' JSON reports."""
    return assert_same_document


@pytest.fixture(scope="session")
def train_argv():
    """:func:`tiny_train_argv`."""
    return tiny_train_argv


def tiny_train_argv(data, out, *settings):
    """``mspectmol train`` arguments for a two-epoch PA-IB of a few hundred weights on the
    random split of the dataset folder ``data``, with ``--set`` items ``settings``."""
    argv = ["-q", "train", "--data", str(data), "--split", "random", "--epochs", "2",
            "--out", str(out), "--no-progress", "--threads", "1"]
    for item in ("model_config.channels=[4,8]", "model_config.head_hidden=16",
                 "model_config.gate_hidden=4", *settings):
        argv += ["--set", item]
    return argv
