"""The classifiers that ship inside the package, one folder per model named after it.

Each folder holds ``model.safetensors``, ``model.json`` (:mod:`mspectmol.models.io`) and
``MODEL_CARD.md`` (how it was trained, with measured scores). ``default`` is the model a
command uses when it is given none. Find them with
:func:`mspectmol.models.packaged.find_packaged` (kind ``"classifier"``).
"""
