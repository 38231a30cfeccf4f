"""Settings for the whole test suite."""
import os

import pytest

from fastem.families import kmeans as lloyd_engine


@pytest.fixture(autouse=True, scope="session")
def bounded_kmeans_on_small_data():
    """In-memory k-means runs its bounded passes only from
    ``MIN_BOUNDED_ROWS`` rows; the tests' small data run them too, so every
    k-means property is tested on the bounded passes (the dense ones are
    tested through streamed fits, the mixtures' initialization and
    ``test_cluster.test_equal_to_sklearn_same_init``)."""
    default = lloyd_engine.MIN_BOUNDED_ROWS
    lloyd_engine.MIN_BOUNDED_ROWS = 0
    yield
    lloyd_engine.MIN_BOUNDED_ROWS = default


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    """``-n auto``: up to four test processes. Each compiles the kernels its
    tests meet (more processes compile more twice), and the kernels run on
    every core."""
    return max(2, min(4, os.cpu_count() or 1))
