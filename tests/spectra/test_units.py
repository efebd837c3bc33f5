"""Golden values for unit conversion and canonicalisation."""

import numpy as np
import pytest

from mspectmol.errors import UnitError
from mspectmol.spectra.spectrum import Spectrum
from mspectmol.spectra.units import (
    HC_EV_NM,
    convert_x,
    convert_y,
    normalise_x_unit,
    normalise_y_unit,
    sort_and_merge,
    to_canonical,
)


def test_micrometre_and_nanometre_to_wavenumber():
    np.testing.assert_allclose(convert_x(np.array([2.5, 10.0, 25.0]), "um", "ir"),
                               [4000.0, 1000.0, 400.0])
    np.testing.assert_allclose(convert_x(np.array([2500.0, 10000.0]), "nm", "ir"),
                               [4000.0, 1000.0])


def test_nm_to_ev_for_uv():
    np.testing.assert_allclose(convert_x(np.array([HC_EV_NM / 5.0]), "nm", "uv"), [5.0])
    # 200 nm is 6.199 eV
    assert convert_x(np.array([200.0]), "nanometers", "uv")[0] == pytest.approx(6.19921, 1e-5)


def test_hz_to_ppm_needs_observe_frequency():
    np.testing.assert_allclose(convert_x(np.array([400.0, 2904.0]), "Hz", "h_nmr",
                                         observe_mhz=400.0), [1.0, 7.26])
    with pytest.raises(UnitError, match="spectrometer frequency"):
        convert_x(np.array([400.0]), "HZ", "h_nmr", source="a.jdx")


def test_transmittance_to_absorbance():
    y, unit = convert_y(np.array([1.0, 0.1, 0.01]), "transmittance")
    assert unit == "absorbance"
    np.testing.assert_allclose(y, [0.0, 1.0, 2.0])
    y, unit = convert_y(np.array([100.0, 10.0, 50.0]), "%T")
    np.testing.assert_allclose(y, [0.0, 1.0, -np.log10(0.5)])
    # zero transmittance stays finite (clipped at 1e-4 -> 4 absorbance units)
    y, _ = convert_y(np.array([0.0, -0.01]), "transmittance")
    np.testing.assert_allclose(y, [4.0, 4.0])


def test_transmittance_above_one_is_flagged_as_percent():
    with pytest.raises(UnitError, match="%T"):
        convert_y(np.array([95.0, 40.0]), "transmittance", source="x.jdx")


def test_unit_aliases_and_unknown_units():
    assert normalise_x_unit("1/CM") == "cm-1"
    assert normalise_x_unit("MICROMETERS") == "um"
    assert normalise_y_unit("PERCENT TRANSMITTANCE") == "%T"
    assert normalise_y_unit("log epsilon") == "log_absorptivity"
    with pytest.raises(UnitError, match="furlongs") as info:
        normalise_x_unit("furlongs", source="bad.csv")
    assert "bad.csv" in str(info.value)
    with pytest.raises(UnitError, match="cannot be used"):
        convert_x(np.array([1.0]), "ppm", "ir")


def test_sort_and_merge_averages_duplicates():
    x, y = sort_and_merge(np.array([3.0, 1.0, 2.0, 2.0]), np.array([30.0, 10.0, 20.0, 40.0]))
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(y, [10.0, 30.0, 30.0])


def test_to_canonical_descending_percent_transmittance():
    s = Spectrum(np.array([4000.0, 2000.0, 400.0]), np.array([100.0, 10.0, 1.0]), "ir",
                 "1/cm", "%T", source="t.jdx")
    c = to_canonical(s)
    np.testing.assert_array_equal(c.x, [400.0, 2000.0, 4000.0])
    np.testing.assert_allclose(c.y, [2.0, 1.0, 0.0])
    assert (c.x_unit, c.y_unit) == ("cm-1", "absorbance")
    assert c.metadata["preprocessing"] == ["x: 1/cm -> cm-1", "y: %T -> absorbance"]


def test_to_canonical_sums_duplicate_ms_peaks():
    s = Spectrum(np.array([58.0, 43.0, 58.0]), np.array([10.0, 100.0, 5.0]), "ms")
    c = to_canonical(s)
    np.testing.assert_array_equal(c.x, [43.0, 58.0])
    np.testing.assert_array_equal(c.y, [100.0, 15.0])
