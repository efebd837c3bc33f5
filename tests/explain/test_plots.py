"""Figures: valid PNG/SVG files, chemists' axis directions, group heatmaps, molecule drawings."""

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib.image import imread
from PIL import Image

from mspectmol.chem.functional_groups import GROUP_NAMES
from mspectmol.errors import InvalidSmilesError, MspectmolError
from mspectmol.explain.molecule import PALETTE, draw_molecule, group_atoms, group_colours
from mspectmol.explain.plots import plot_group_importance, plot_spectra_importance
from mspectmol.spectra.preprocessing import canonical_grid

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
MODS = ("ir", "h_nmr", "c_nmr", "uv")


def _peak(grid, centre, width):
    return 1.0 / (1.0 + ((grid - centre) / width) ** 2)


@pytest.fixture(scope="module")
def panels():
    centres = {"ir": (1750.0, 15.0), "h_nmr": (2.3, 0.05), "c_nmr": (170.0, 1.0),
               "uv": (6.0, 0.3)}
    spectra, importance = {}, {}
    for m in MODS:
        grid = canonical_grid(m, 600)
        spectra[m] = (grid, _peak(grid, *centres[m]))
        imp = 1.0 + 4.0 * _peak(grid, *centres[m])
        importance[m] = imp / imp.sum()
    return spectra, importance


def _axes(fig):
    return {ax.get_label(): ax for ax in fig.axes if ax.get_label() in MODS}


def test_png_is_valid_and_axes_follow_chemists_conventions(panels, tmp_path):
    spectra, importance = panels
    path = tmp_path / "fig.png"
    fig = plot_spectra_importance(spectra, importance, [("Ester", 0.93), ("Arene", 0.81)],
                                  "aspirin", smiles=ASPIRIN, path=path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        image.verify()
    pixels = imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 400 and pixels.std() > 0.05
    axes = _axes(fig)
    assert set(axes) == set(MODS)
    for m in ("ir", "h_nmr", "c_nmr"):
        assert axes[m].xaxis_inverted(), m
    assert not axes["uv"].xaxis_inverted()
    assert axes["ir"].get_xlim() == pytest.approx((4000.0, 400.0))
    assert "cm" in axes["ir"].get_xlabel() and "ppm" in axes["h_nmr"].get_xlabel()
    assert len(axes["ir"].collections) == 1          # the importance shading
    bars = [ax for ax in fig.axes if ax.get_title(loc="left") == "Predicted groups"][0]
    assert [t.get_text() for t in bars.get_yticklabels()] == ["Ester", "Arene"]
    assert bars.patches[0].get_facecolor()[:3] == pytest.approx(PALETTE[0])


def test_svg_is_valid_xml(panels, tmp_path):
    spectra, importance = panels
    path = tmp_path / "fig.svg"
    plot_spectra_importance({"ir": spectra["ir"]}, importance, [("Ketone", 0.7)], "svg",
                            smiles="CC(C)=O", path=path)
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    assert root.findall(".//{http://www.w3.org/2000/svg}image")    # the molecule drawing


def test_without_importance_or_molecule(panels, tmp_path):
    spectra, _ = panels
    fig = plot_spectra_importance({"ir": spectra["ir"]}, None, [], path=tmp_path / "x.png")
    assert len(_axes(fig)["ir"].collections) == 0
    assert (tmp_path / "x.png").read_bytes()[:8] == PNG_SIGNATURE


def test_bad_figure_requests(panels, tmp_path):
    spectra, importance = panels
    with pytest.raises(MspectmolError, match="importance has shape"):
        plot_spectra_importance({"ir": spectra["ir"]}, {"ir": importance["ir"][:10]})
    with pytest.raises(MspectmolError, match="unsupported figure format"):
        plot_spectra_importance({"ir": spectra["ir"]}, path=tmp_path / "fig.jpg2")
    with pytest.raises(MspectmolError, match="no spectra"):
        plot_spectra_importance({})
    with pytest.raises(InvalidSmilesError):
        plot_spectra_importance({"ir": spectra["ir"]}, smiles="C1CC(")


def test_group_importance_heatmap(tmp_path):
    grids = {m: canonical_grid(m, 600) for m in ("ir", "h_nmr", "uv")}
    rng = np.random.default_rng(0)
    maps = {m: rng.random((len(GROUP_NAMES), 600)) for m in grids}
    maps["ir"][3] = np.nan
    path = tmp_path / "groups.svg"
    fig = plot_group_importance(maps, grids, ["Ketone", "Aldehyde", "Ester"], path)
    axes = {ax.get_label(): ax for ax in fig.axes if ax.get_label() in grids}
    assert axes["ir"].xaxis_inverted() and axes["h_nmr"].xaxis_inverted()
    assert not axes["uv"].xaxis_inverted()
    assert [t.get_text() for t in axes["ir"].get_yticklabels()] == ["Ketone", "Aldehyde",
                                                                     "Ester"]
    shown = axes["ir"].images[0].get_array()
    assert shown.mask[1].all()                      # Aldehyde (row 3) is all NaN
    assert shown[0].min() == 0 and shown[0].max() == 1
    ET.parse(path)
    with pytest.raises(MspectmolError, match="unknown group"):
        plot_group_importance(maps, grids, ["Ketones"])


def _has_colour(svg, rgb):
    """Whether the SVG uses a fill/stroke colour within 1/255 of ``rgb``."""
    found = re.findall(r"#([0-9A-Fa-f]{6})", svg)
    target = np.array(rgb) * 255
    return any(np.abs([int(h[i:i + 2], 16) for i in (0, 2, 4)] - target).max() <= 1.01
               for h in found)


def test_aspirin_drawing_highlights_its_groups():
    atoms = group_atoms(ASPIRIN, ["Ester", "Carboxylic acid", "Ketone"])
    assert atoms["Ester"][0] == {0, 1, 2, 3, 4}
    assert atoms["Carboxylic acid"][0] == {10, 11, 12}
    assert atoms["Ketone"] == (set(), set())
    png = draw_molecule(ASPIRIN, ["Ester", "Carboxylic acid"], size=(300, 240))
    assert png[:8] == PNG_SIGNATURE
    colours = group_colours(["Ester", "Carboxylic acid"])
    svg = draw_molecule(ASPIRIN, ["Ester", "Carboxylic acid"], fmt="svg")
    plain = draw_molecule(ASPIRIN, [], fmt="svg")
    ET.fromstring(svg.encode("latin-1"))
    for rgb in colours.values():
        assert _has_colour(svg, rgb) and not _has_colour(plain, rgb)
    with pytest.raises(MspectmolError, match="format"):
        draw_molecule(ASPIRIN, fmt="gif")
