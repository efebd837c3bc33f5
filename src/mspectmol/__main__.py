"""``python -m mspectmol`` runs the command-line interface."""

from mspectmol.cli.main import main

raise SystemExit(main())
