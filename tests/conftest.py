"""Shared fixtures: tiny real data, and one embedded Prefect server for the whole session."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
# Hugging Face `datasets` reads local Parquet in the tests; it must never wait on the network.
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# `make test` runs two pytest-xdist workers: each gets its share of the cores, so that two workers do
# not run four threads on two cores. Oversubscribed OpenMP threads spin at every barrier, which slows
# the small operations of these tests tenfold and more. The share holds for torch and for numpy's BLAS
# in this process, and through the environment for every process a test starts (the CLI, Prefect
# workers, the fault tests' jobs).
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    import torch
    from threadpoolctl import threadpool_limits

    _share = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[_name] = str(_share)
    torch.set_num_threads(_share)
    threadpool_limits(_share)

from gan_aug.data.builtin import digits  # noqa: E402
from gan_aug.data.imageset import ImageSet  # noqa: E402


@pytest.fixture(scope="session")
def digits_set() -> ImageSet:
    return digits()


@pytest.fixture
def tiny_set() -> ImageSet:
    """Three classes of 8×8 noise with 12/6/3 images: imbalanced, fast, and fully known."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), [12, 6, 3]).astype(np.int64)
    images = rng.integers(0, 256, size=(len(labels), 1, 8, 8), dtype=np.uint8)
    return ImageSet(images, labels, ("a", "b", "c"))


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect server (SQLite) shared by every flow test; started only if one asks."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield
