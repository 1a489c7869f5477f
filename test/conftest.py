"""Shared fixtures: the shipped codec loaded once, small real stereo crops (Motorcycle pair)."""

import numpy as np
import pytest


@pytest.fixture(scope="session")
def codec():
    import dsc_core

    return dsc_core.load_codec("dsc-default", device="cpu")


@pytest.fixture(scope="session")
def paper_codec():
    import dsc_core

    return dsc_core.load_codec("dsc-paper", device="cpu")


@pytest.fixture(scope="session")
def motorcycle():
    import skimage.data

    left, right, disp = skimage.data.stereo_motorcycle()
    return left, right


@pytest.fixture(scope="session")
def small_pair(motorcycle):
    """A 128x192 crop of the Motorcycle pair: real stereo content, fast to code."""
    left, right = motorcycle
    return np.ascontiguousarray(left[200:328, 300:492]), np.ascontiguousarray(right[200:328, 300:492])


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for modules of many tiny codec calls: on a shared 2-core machine two threads fight any
    other load and are several times slower; results do not depend on it (indices are exact)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
