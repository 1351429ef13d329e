"""Fixtures shared by the whole suite."""

import pytest
import torch


@pytest.fixture
def single_thread():
    """Tiny workloads gain nothing from threads; on a busy CPU OpenMP threads spin-wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
