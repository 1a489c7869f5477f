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
