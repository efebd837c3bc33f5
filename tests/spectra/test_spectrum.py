"""The Spectrum model and the modality registry."""

import numpy as np
import pytest

from mspectmol.errors import SpectrumError, UnknownModalityError
from mspectmol.spectra.modalities import MODALITIES, get_modality, modality_names
from mspectmol.spectra.spectrum import Spectrum


def test_registry_ranges_and_directions():
    assert modality_names() == ["ir", "raman", "uv", "h_nmr", "c_nmr", "ms", "msms_pos",
                                "msms_neg"]
    assert get_modality("IR").x_range == (400.0, 4000.0)
    assert get_modality("raman").x_range == (400.0, 4000.0)
    assert get_modality("uv-vis").x_range == (1.0, 15.0)
    assert get_modality("1H").x_range == (-2.0, 10.0)
    assert get_modality("13c_nmr").x_range == (-20.0, 230.0)
    assert get_modality("ms").peak_list
    # chemists' conventions: IR, Raman and NMR axes decrease to the right
    assert {m.name for m in MODALITIES.values() if m.x_decreasing} == {
        "ir", "raman", "h_nmr", "c_nmr"}


def test_unknown_modality_message_lists_known_ones():
    with pytest.raises(UnknownModalityError, match="known modalities: ir, raman"):
        get_modality("xray")
    with pytest.raises(UnknownModalityError):
        Spectrum([1, 2], [1, 2], "terahertz")


def test_spectrum_defaults_and_immutability():
    s = Spectrum([400, 500], [0.1, 0.2], "ir")
    assert s.x_unit == "cm-1" and s.y_unit == "arbitrary" and s.kind == "profile"
    assert Spectrum([43.0], [100.0], "ms").kind == "peaks"
    with pytest.raises(ValueError):
        s.x[0] = 1.0
    assert s.log_step("a").log_step("b").metadata["preprocessing"] == ["a", "b"]
    assert "preprocessing" not in s.metadata


@pytest.mark.parametrize("x,y,match", [
    ([1.0, np.nan], [1.0, 2.0], "NaN or infinite"),
    ([1.0, 2.0], [1.0, np.inf], "NaN or infinite"),
    ([1.0, 2.0, 3.0], [1.0, 2.0], "different lengths"),
    ([1.0], [1.0], "at least 2 points"),
    ([[1.0, 2.0]], [[1.0, 2.0]], "one-dimensional"),
    (["a", "b"], [1.0, 2.0], "not numeric"),
])
def test_bad_arrays_are_refused_with_the_source(x, y, match):
    with pytest.raises(SpectrumError, match=match) as info:
        Spectrum(x, y, "ir", source="sample.csv")
    assert str(info.value).startswith("sample.csv: ")
