"""Benchmark suites of the paper on the embedded dataset (Tables 1, 4, 6-7, 9-14, Figs. 10a, 11).

A suite (``mspectmol/configs/suites/<name>.json``) is trained and tabulated by
``mspectmol benchmark``; the metrics themselves are those of :mod:`mspectmol.evaluation`.
The modules, from the suite file to the tables:

- :mod:`~mspectmol.suites.definitions`: the :class:`~mspectmol.suites.definitions.Suite`
  read from its JSON file, the ``--quick`` and ``--profile paper`` variants and the settings
  that enter a run's key;
- :mod:`~mspectmol.suites.configurations`, :mod:`~mspectmol.suites.conditions`,
  :mod:`~mspectmol.suites.variants`: what a suite is made of (spectrum configurations,
  test-time conditions, model variants);
- :mod:`~mspectmol.suites.plan`: the runs, their training configs, settings hashes and keys;
- :mod:`~mspectmol.suites.runner`: training the runs and the whole workflow
  (:func:`~mspectmol.suites.runner.run_benchmark`);
- :mod:`~mspectmol.suites.robustness` and :mod:`~mspectmol.suites.cost`: what a run measures
  beyond its test metrics (metrics under conditions; memory and time);
- :mod:`~mspectmol.suites.rows`: one result row per finished run, stored and loaded;
- :mod:`~mspectmol.suites.cells`, :mod:`~mspectmol.suites.tables` and
  :mod:`~mspectmol.suites.study`: the Markdown, CSV and JSON tables and the figures.

Import from the modules themselves; this package module imports none of them.
"""
