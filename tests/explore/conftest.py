"""Explore tests run torch on one thread: their tensors are tiny, and on a busy shared machine a
second thread waiting for a core makes every op orders of magnitude slower."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
