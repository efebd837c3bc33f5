"""Full disks through main(): the previous output stays intact, no partial or temporary file
is left, and the command prints one line and exits with status 2.

Each case runs on a real full disk (a small tmpfs; skipped where it cannot be mounted) and
with the disk-full error injected where the written file is flushed (runs everywhere).
"""

import errno

import numpy as np
import pytest
import torch

from mspectmol import fileio
from mspectmol.chem.functional_groups import GROUP_NAMES
from mspectmol.cli.main import main
from mspectmol.data.simulator import runner
from mspectmol.models.io import ModelMeta, grid_info, save_model
from mspectmol.models.registry import get_model_spec
from mspectmol.spectra.preprocessing import canonical_grid
from mspectmol.spectra.spectrum import Spectrum
from mspectmol.spectra.writers import write_jcamp

MODS = ("ir", "h_nmr", "c_nmr")


class InjectedDisk:
    """A folder whose writes fail with ENOSPC once :meth:`fill` is called (monkeypatched)."""

    def __init__(self, path, monkeypatch):
        self.path, self.monkeypatch = path, monkeypatch
        path.mkdir()

    def fill(self, leave=0):
        def full(path):
            raise OSError(errno.ENOSPC, "No space left on device")

        self.monkeypatch.setattr(fileio, "_fsync", full)

    def files(self):
        return {str(p.relative_to(self.path)): p.stat().st_size for p in self.path.rglob("*")
                if p.is_file()}


@pytest.fixture(params=["tmpfs", "injected"])
def disk(request, tmp_path, monkeypatch):
    if request.param == "tmpfs":
        return request.getfixturevalue("small_disk")("1m")
    return InjectedDisk(tmp_path / "injected", monkeypatch)


def _ir_files(folder, n):
    folder.mkdir(parents=True, exist_ok=True)
    wn = np.arange(3990.0, 410.0, -2.0)
    for i in range(n):
        absorbance = 0.05 + 0.9 / (1 + ((wn - 1700 - 10 * i) / 12.0) ** 2)
        write_jcamp(folder / f"s{i}_ir.jdx", Spectrum(wn, 100 * 10.0 ** -absorbance, "ir",
                                                      "1/cm", "%T"))
    return sorted(folder.glob("*_ir.jdx"))


def _one_error_line(capsys, *expected):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert err[0].startswith("ERROR: ") and all(e in err[0] for e in expected), err[0]
    return err[0]


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_convert(disk, tmp_path, capsys, suffix):
    sources = [str(p) for p in _ir_files(tmp_path / "src", 20)]
    out = disk.path / f"x.{suffix}"
    assert main(["-q", "convert", *sources, "-o", str(out), "-n", "300"]) == 0
    before = out.read_bytes()
    disk.fill(leave=4096)
    capsys.readouterr()
    assert main(["-q", "convert", *sources, "-o", str(out), "-n", "3000"]) == 2
    _one_error_line(capsys, f"{out}: cannot write", "no space left on the device")
    assert out.read_bytes() == before
    assert disk.files() == {out.name: len(before)}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    spec = get_model_spec("pa_ib")
    config = spec.make_config({"channels": [4, 8], "gate_hidden": 4, "head_hidden": 8},
                              primary="ir", auxiliary=("h_nmr", "c_nmr"), n_points=120,
                              n_labels=len(GROUP_NAMES))
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("model")
    save_model(folder, spec.build(config).eval(), ModelMeta(
        model_name="pa_ib", config=config, label_names=GROUP_NAMES, primary="ir",
        auxiliary=("h_nmr", "c_nmr"),
        modalities={m: grid_info(m, canonical_grid(m, 120)) for m in MODS}))
    return folder


def test_predict_folder(disk, model_dir, tmp_path, capsys):
    samples = tmp_path / "samples"
    _ir_files(samples, 3)
    out = disk.path / "pred"
    argv = ["predict", str(model_dir), "--folder", str(samples), "-o", str(out),
            "--format", "html", "--no-progress"]
    assert main(["-q", *argv]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(before) == ["s0.html", "s1.html", "s2.html", "summary.csv"]
    disk.fill(leave=20000)
    capsys.readouterr()
    assert main(argv) == 2
    _one_error_line(capsys, f"{out / 's0.html'}: cannot write the report",
                    "no space left on the device")  # not masked by the summary's error
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(disk.files()) == [f"pred/{n}" for n in sorted(before)]


def test_simulate(disk, monkeypatch, capsys):
    def fake(task, settings):
        return runner.Failure(task.name, task.smiles, "fake", "x" * 5000)

    monkeypatch.setattr(runner, "_simulate_task", fake)
    out = disk.path / "sim.parquet"
    argv = ["simulate", "-o", str(out), "--workers", "1", "--no-progress"]
    assert main(["-q", *argv, "C", "CC"]) == 0
    before = {p: (disk.path / p).read_bytes() for p in disk.files()}
    disk.fill(leave=4096)
    capsys.readouterr()
    assert main(["-q", *argv, "C", "CC", "CCC", "CCCC"]) == 2
    _one_error_line(capsys, ".fail.json: cannot write the cache", "no space left on the device")
    assert {p: (disk.path / p).read_bytes() for p in disk.files()} == before
