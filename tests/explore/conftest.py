"""Explore tests run torch on one thread: their tensors are tiny, and on a busy shared machine a
second thread waiting for a core makes every op orders of magnitude slower."""

import pytest


@pytest.fixture(autouse=True, scope="module")
def _explore_on_one_thread(one_torch_thread):
    """Every explore test module uses the shared ``one_torch_thread`` fixture."""
