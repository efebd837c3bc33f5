"""Shared test settings: every test runs torch on one thread with a fixed seed.

One thread keeps timings and results steady on the 2-core CI machine (several tests start
worker processes of their own); a test module may override ``_seed_one_thread``.
"""

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_one_thread():
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
