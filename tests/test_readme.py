"""The README's generated parts match the code they describe."""

from __future__ import annotations

from pathlib import Path

from mspectmol.spectra.readers.formats import format_table_markdown

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_formats_table_is_the_registry():
    text = README.read_text(encoding="utf-8")
    start, end = "<!-- formats:start -->\n", "\n<!-- formats:end -->"
    assert start in text and end in text
    table = text.split(start, 1)[1].split(end, 1)[0]
    assert table.strip() == format_table_markdown().strip(), (
        "README formats table is stale: paste mspectmol.spectra.readers.formats."
        "format_table_markdown() between the markers")


def test_results_page_stays_a_summary():
    results = README.parent / "docs" / "results.md"
    assert len(results.read_text(encoding="utf-8").splitlines()) < 400
