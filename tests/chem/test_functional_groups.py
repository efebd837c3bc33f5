"""Tests of the 37 functional groups (paper Table 5), labelling and FGSim.

The expected group sets below were worked out by hand from the SMARTS, not produced by the
code. Behaviour of the published SMARTS that may surprise (kept on purpose, so labels stay
comparable with Alberts et al. 2024):

* the OH of a carboxylic acid is an "Alcohol" too (``[#6][OX2H]``: the acid carbon is #6);
* the single-bonded O of esters, anhydrides and carbamates is an "Ether"
  (``[OD2]([#6])[#6]``), and an acyl halide is a "Haloalkane" (``[#6][F,Cl,Br,I]``), as are
  aryl halides;
* methane and chloroform are not "Alkane" (``[CX4;H3,H2]`` needs a CH3 or CH2);
* "Aldehyde" ``[CX3H1](=O)[#6,H]`` reads ``H`` as "an atom with one H": formic acid and
  N-methylformamide match (via the OH / NH), formaldehyde (CH2) does not, and
  N-methylformamide is no "Amide" (that SMARTS needs a carbon on the carbonyl);
* "Amine" ``[NX3;H2,H1,H0;!$(NC=O)]`` takes any aliphatic three-connected N not bonded to
  C=O: hydrazines, sulfonamide and thioamide nitrogens, the hydrazone NH2, the N of nitro
  groups; never aromatic n (pyridine, pyrrole) nor ammonia (NH3); urea has no group at all;
* "Sulfide" ``[#16X2H0]`` matches thiophene's aromatic S; "Phosphine" ``[PX3]`` matches
  phosphites.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem

from mspectmol.chem import functional_groups as fg
from mspectmol.errors import InvalidSmilesError

# name -> (SMILES, expected groups worked out from the SMARTS)
GOLDEN: dict[str, tuple[str, set[str]]] = {
    "aspirin": (
        "CC(=O)Oc1ccccc1C(=O)O",
        {"Alcohol", "Alkane", "Arene", "Carboxylic acid", "Ester", "Ether"},
    ),
    "ethanol": ("CCO", {"Alcohol", "Alkane"}),
    "acetone": ("CC(C)=O", {"Alkane", "Ketone"}),
    "cyclohexanone": ("O=C1CCCCC1", {"Alkane", "Ketone"}),
    "acetaldehyde": ("CC=O", {"Aldehyde", "Alkane"}),
    "acetic anhydride": ("CC(=O)OC(C)=O", {"Acid anhydride", "Alkane", "Ester", "Ether"}),
    "acetyl chloride": ("CC(=O)Cl", {"Acyl halide", "Alkane", "Haloalkane"}),
    "acetonitrile": ("CC#N", {"Alkane", "Nitrile"}),
    "phenol": ("Oc1ccccc1", {"Alcohol", "Arene", "Phenol"}),
    "aniline": ("Nc1ccccc1", {"Amine", "Arene"}),
    "acetamide": ("CC(N)=O", {"Alkane", "Amide"}),
    "methyl carbamate": ("COC(N)=O", {"Alkane", "Carbamate", "Ether"}),
    "dimethyl sulfoxide": ("CS(C)=O", {"Alkane", "Sulfoxide"}),
    "dimethyl sulfone": ("CS(C)(=O)=O", {"Alkane", "Sulfone"}),
    "methanesulfonic acid": ("CS(=O)(=O)O", {"Alkane", "Sulfonic acid"}),
    "thiophenol": ("Sc1ccccc1", {"Arene", "Thiol"}),
    "ethanethiol": ("CCS", {"Alkane", "Thiol"}),
    "dimethyl sulfide": ("CSC", {"Alkane", "Sulfide"}),
    "azobenzene": ("c1ccc(cc1)N=Nc1ccccc1", {"Arene", "Azo compound"}),
    "1,2-dimethylhydrazine": ("CNNC", {"Alkane", "Amine", "Hydrazine"}),
    "phenylhydrazine": ("NNc1ccccc1", {"Amine", "Arene", "Hydrazine"}),
    "acetone hydrazone": ("CC(C)=NN", {"Alkane", "Amine", "Hydrazone"}),
    "acetone N-methylimine": ("CC(C)=NC", {"Alkane", "Imine"}),
    "methyl isocyanate": ("CN=C=O", {"Alkane", "Isocyanate"}),
    "methyl isothiocyanate": ("CN=C=S", {"Alkane", "Isothiocyanate"}),
    "N,N-dimethylprop-1-en-2-amine": ("CN(C)C(C)=C", {"Alkane", "Alkene", "Amine", "Enamine"}),
    "prop-1-en-2-ol": ("CC(O)=C", {"Alcohol", "Alkane", "Alkene", "Enol"}),
    "trimethylphosphine": ("CP(C)C", {"Alkane", "Phosphine"}),
    "trimethyl phosphite": ("COP(OC)OC", {"Alkane", "Phosphine"}),
    "succinimide": ("O=C1CCC(=O)N1", {"Alkane", "Amide", "Imide"}),
    "N-methylmethanesulfonamide": ("CNS(C)(=O)=O", {"Alkane", "Amine", "Sulfonamide"}),
    "methyl methanesulfonate": ("COS(C)(=O)=O", {"Alkane", "Sulfonate"}),
    "thioacetamide": ("CC(N)=S", {"Alkane", "Amine", "Thioamide"}),
    "thioacetaldehyde": ("CC=S", {"Alkane", "Thial"}),
    "chloroform": ("ClC(Cl)Cl", {"Haloalkane"}),
    "fluorobenzene": ("Fc1ccccc1", {"Arene", "Haloalkane"}),
    "ethylene": ("C=C", {"Alkene"}),
    "acetylene": ("C#C", {"Alkyne"}),
    "phenylacetylene": ("C#Cc1ccccc1", {"Alkyne", "Arene"}),
    "diethyl ether": ("CCOCC", {"Alkane", "Ether"}),
    "methyl acetate": ("CC(=O)OC", {"Alkane", "Ester", "Ether"}),
    "acetic acid": ("CC(=O)O", {"Alcohol", "Alkane", "Carboxylic acid"}),
    "formic acid": ("OC=O", {"Alcohol", "Aldehyde", "Carboxylic acid"}),
    "N-methylformamide": ("CNC=O", {"Aldehyde", "Alkane"}),
    "nitromethane": ("C[N+](=O)[O-]", {"Alkane", "Amine"}),
    "triethylamine": ("CCN(CC)CC", {"Alkane", "Amine"}),
    "benzene": ("c1ccccc1", {"Arene"}),
    "thiophene": ("c1ccsc1", {"Sulfide"}),
    "ethane": ("CC", {"Alkane"}),
    "methane": ("C", set()),
    "formaldehyde": ("C=O", set()),
    "pyridine": ("c1ccncc1", set()),
    "pyrrole": ("c1cc[nH]c1", set()),
    "urea": ("NC(N)=O", set()),
    "ammonia": ("N", set()),
    "water": ("O", set()),
    "helium": ("[He]", set()),
}

# Table 5 as extracted from the paper's PDF text (spaces inserted by the extraction).
PAPER_TEXT = {
    "Acid anhydride": "[CX3] (= [OX1]) [OX2] [CX3] (= [OX1])",
    "Amine": "[NX3; H2, H1, H0; ! \\$ (NC=O)]",
    "Arene": "[cX3] 1 [cX3] [cX3] [cX3] [cX3] [cX3] 1",
    "Imine": "[\\$ ([CX3] ([#6]) [#6]), \\$ ([CX3H] [#6])] = [\\$ ([NX2] [#6]), \\$ ([NX2H])]",
    "Sulfonamide": "[#16X4] ([NX3]) (= [OX1]) (= [OX1]) [#6]",
    "Thiol": "[#16X2H]",
}


def _unpdf(text: str) -> str:
    """Undo the PDF extraction: drop spaces and the backslash before '$'."""
    return text.replace(" ", "").replace("\\$", "$")


def test_packaged_set_is_table_5() -> None:
    groups = fg.load_functional_groups(1)
    assert len(groups) == 37 == len(fg.GROUP_NAMES) == len(set(fg.GROUP_KEYS))
    assert list(fg.GROUP_NAMES) == sorted(fg.GROUP_NAMES)  # the table is alphabetical
    assert fg.GROUP_NAMES[0] == "Acid anhydride" and fg.GROUP_NAMES[-1] == "Thiol"
    assert all(Chem.MolFromSmarts(g.smarts) is not None for g in groups)
    by_name = {g.name: g for g in groups}
    for name, text in PAPER_TEXT.items():
        assert by_name[name].smarts == _unpdf(text)
    assert fg.load_functional_groups(1) is groups  # cached


def test_packaged_file_metadata() -> None:
    path = Path(fg.__file__).parent / "data" / "functional_groups_v1.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["name"] == "mspectmol-functional-groups" and doc["version"] == 1
    assert "Alberts" in doc["source"] and "Table 5" in doc["source"]
    assert [g["key"] for g in doc["groups"]] == list(fg.GROUP_KEYS)


def test_unknown_version() -> None:
    with pytest.raises(fg.FunctionalGroupError, match="version 2"):
        fg.load_functional_groups(2)


def _write(tmp_path: Path, doc: object, name: str = "groups.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("groups", "problem"),
    [
        ([{"name": "X", "key": "x", "smarts": "[C"}], "cannot compile"),
        ([{"name": "X", "key": "x"}], "'smarts'"),
        (
            [{"name": "X", "key": "x", "smarts": "C"}, {"name": "Y", "key": "x", "smarts": "N"}],
            "duplicate group keys: x",
        ),
        ([], "groups"),
        (["C"], "not an object"),
    ],
)
def test_bad_definitions_name_the_file(tmp_path: Path, groups: list, problem: str) -> None:
    path = _write(tmp_path, {"name": "mspectmol-functional-groups", "version": 1, "groups": groups})
    with pytest.raises(fg.FunctionalGroupError) as info:
        fg.read_functional_groups(path)
    assert str(path) in str(info.value) and problem in str(info.value)


def test_bad_definition_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(fg.FunctionalGroupError, match="broken.json: not valid JSON"):
        fg.read_functional_groups(broken)
    with pytest.raises(fg.FunctionalGroupError, match="missing.json: cannot read"):
        fg.read_functional_groups(tmp_path / "missing.json")
    wrong = _write(tmp_path, {"name": "other", "version": 1, "groups": []}, "wrong.json")
    with pytest.raises(fg.FunctionalGroupError, match="wrong.json: 'name'"):
        fg.read_functional_groups(wrong)


def test_custom_definitions_round_trip(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "name": "mspectmol-functional-groups",
            "version": 7,
            "groups": [
                {"name": "Hydroxyl", "key": "oh", "smarts": "[OX2H]"},
                {"name": "Carbonyl", "key": "co", "smarts": "[CX3]=[OX1]"},
            ],
        },
    )
    groups = fg.read_functional_groups(path)
    assert fg.label("CC(=O)O", groups=groups).tolist() == [1, 1]
    assert fg.label("CC=C", groups=groups).tolist() == [0, 0]
    assert fg.label_many(["CO", "C=O"], groups=groups).tolist() == [[1, 0], [0, 1]]


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_labels(name: str) -> None:
    smiles, expected = GOLDEN[name]
    assert set(fg.groups_present(smiles)) == expected


def test_golden_set_hits_every_group() -> None:
    hit = set().union(*(groups for _, groups in GOLDEN.values()))
    assert hit == set(fg.GROUP_NAMES)


def test_explicit_hydrogens_give_the_same_labels() -> None:
    """H counts in the SMARTS ([OX2H], [CX3H1], [CX4;H3,H2]) see implicit and explicit H alike."""
    for smiles, _ in GOLDEN.values():
        mol = Chem.MolFromSmiles(smiles)
        np.testing.assert_array_equal(fg.label(Chem.AddHs(mol)), fg.label(mol), err_msg=smiles)


def test_label_vector() -> None:
    vec = fg.label("CCO")
    assert vec.dtype == np.uint8 and vec.shape == (37,)
    assert set(np.flatnonzero(vec)) == {
        fg.GROUP_KEYS.index("alcohol"),
        fg.GROUP_KEYS.index("alkane"),
    }
    np.testing.assert_array_equal(fg.label(Chem.MolFromSmiles("CCO")), vec)


def test_label_accepts_unsanitised_property_cache() -> None:
    mol = Chem.MolFromSmiles("CCO", sanitize=False)
    assert fg.groups_present(mol) == ["Alcohol", "Alkane"]


def test_groups_present_in_label_order() -> None:
    assert fg.groups_present("CC(=O)Oc1ccccc1C(=O)O") == [
        "Alcohol",
        "Alkane",
        "Arene",
        "Carboxylic acid",
        "Ester",
        "Ether",
    ]


def test_label_invalid_smiles() -> None:
    with pytest.raises(InvalidSmilesError, match="C1CC"):
        fg.label("C1CC")


def test_label_many_raise_and_skip() -> None:
    smiles = ["CCO", "not a smiles", "c1ccccc1"]
    with pytest.raises(InvalidSmilesError, match="entry 1 of the input"):
        fg.label_many(smiles)
    out, valid = fg.label_many(smiles, errors="skip", return_valid=True)
    assert out.shape == (2, 37) and out.dtype == np.uint8
    assert valid.tolist() == [True, False, True]
    np.testing.assert_array_equal(out[1], fg.label("c1ccccc1"))
    assert fg.label_many([]).shape == (0, 37)
    with pytest.raises(ValueError, match="errors must be"):
        fg.label_many(smiles, errors="ignore")  # type: ignore[arg-type]


def test_get_group() -> None:
    assert fg.get_group("carboxylic acid").key == "carboxylic_acid"
    assert fg.get_group("CARBOXYLIC_ACID").name == "Carboxylic acid"
    with pytest.raises(fg.FunctionalGroupError, match="unknown functional group 'Nitro'"):
        fg.get_group("Nitro")


def test_match_atoms() -> None:
    aspirin = "CC(=O)Oc1ccccc1C(=O)O"  # atoms: C0 C1 O2 O3 c4..c9 C10 O11 O12
    assert fg.match_atoms(aspirin, "Carboxylic acid") == [(10, 11, 12)]
    assert fg.match_atoms(aspirin, "ester") == [(0, 1, 2, 3, 4)]
    assert fg.match_atoms(aspirin, fg.get_group("ketone")) == []
    assert len(fg.match_atoms("CCCC", "alkane")) == 4
    assert len(fg.match_atoms("CCCC", "alkane", max_matches=2)) == 2


def test_fgsim_vectors_and_names() -> None:
    true = fg.label("CC(=O)Oc1ccccc1C(=O)O")  # 6 groups
    pred = true.copy()
    pred[fg.GROUP_KEYS.index("ether")] = 0
    pred[fg.GROUP_KEYS.index("ketone")] = 1
    assert fg.fgsim(pred, true) == pytest.approx(5 / 7)
    assert fg.fgsim(true, true) == 1.0
    names = {"Alcohol", "Alkane", "Arene", "Carboxylic acid", "Ester", "Ether"}
    assert fg.fgsim(names, true) == 1.0
    assert fg.fgsim({"alkane", "Ketone"}, ["Alkane"]) == 0.5
    assert fg.fgsim([1, 0, 1], [True, False, False]) == 0.5


def test_fgsim_empty_sets() -> None:
    empty = fg.label("O")
    assert not empty.any()
    assert fg.fgsim(empty, fg.label("[He]")) == 1.0
    assert fg.fgsim(set(), []) == 1.0
    assert fg.fgsim(empty, fg.label("C=C")) == 0.0


def test_fgsim_bad_input() -> None:
    with pytest.raises(ValueError, match="0 or 1"):
        fg.fgsim(np.full(37, 0.7), np.zeros(37))
    with pytest.raises(ValueError, match="different lengths"):
        fg.fgsim([1, 0], [1, 0, 0])
    with pytest.raises(ValueError, match="37 entries"):
        fg.fgsim([1, 0], {"Alkane"})
    with pytest.raises(ValueError, match="single string"):
        fg.fgsim("Alkane", {"Alkane"})
    with pytest.raises(fg.FunctionalGroupError):
        fg.fgsim({"Nitro"}, {"Alkane"})


def test_fgsim_batch_matches_rows() -> None:
    rng = np.random.default_rng(0)
    pred = (rng.random((50, 37)) < 0.15).astype(np.uint8)
    true = (rng.random((50, 37)) < 0.15).astype(np.uint8)
    pred[3] = 0
    true[3] = 0
    out = fg.fgsim_batch(pred, true)
    assert out.shape == (50,) and out[3] == 1.0
    np.testing.assert_allclose(out, [fg.fgsim(p, t) for p, t in zip(pred, true, strict=True)])
    with pytest.raises(ValueError, match="2-D"):
        fg.fgsim_batch(pred, true[:10])
    with pytest.raises(ValueError, match="0 or 1"):
        fg.fgsim_batch(pred * 2, true)
