"""Imported first by the fork server of :mod:`mspectmol.web.sandbox`, before NumPy.

One thread per numerical library in the reading children: they run one at a time per
request, and thread pools' stacks and buffers would count against their memory limit.
"""

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"
