"""dsc_ros.nodes.throttle.StampThrottle: both cameras pick the same frames from their stamps alone."""

import random

import pytest

from dsc_ros.nodes.throttle import StampThrottle

S = 1_000_000_000


def picks(th, stamps):
    return [t for t in stamps if th.accept(t)]


def test_off_accepts_everything():
    th = StampThrottle(0)
    assert picks(th, [5, 5, 3, 10]) == [5, 5, 3, 10]


def test_first_frame_of_each_slot_at_any_start_phase():
    stamps = [17 * S + i * S // 10 for i in range(50)]  # 10 Hz, 5 s
    th = StampThrottle(2.0, slop_s=0.010)
    got = picks(th, stamps)
    assert got[0] == 17 * S + S // 2  # the first frame seen does not start a slot it saw begin
    assert len(got) == 9 and all(b - a == S // 2 for a, b in zip(got, got[1:]))
    late = StampThrottle(2.0, slop_s=0.010)  # a camera that starts 1.3 s later
    assert picks(late, stamps[13:]) == [t for t in got if t > stamps[13]]


def test_jittered_and_skewed_cameras_agree():
    rng = random.Random(3)
    base = [100 * S + i * S // 10 + rng.randint(-4_000_000, 4_000_000) for i in range(3000)]
    left = StampThrottle(2.5, slop_s=0.010)
    right = StampThrottle(2.5, slop_s=0.010)
    pl = picks(left, base)
    pr = picks(right, [t + rng.randint(-200_000, 200_000) for t in base])  # +-0.2 ms camera skew
    matched = sum(any(abs(a - b) <= 10_000_000 for b in pr[max(0, i - 2) : i + 3]) for i, a in enumerate(pl))
    assert len(pl) == pytest.approx(3000 / 4, rel=0.02)
    assert matched >= len(pl) - 2  # only a stamp within the skew of a slot edge can disagree


def test_lost_input_frame_costs_one_slot_only():
    stamps = [i * S // 10 for i in range(1, 40)]
    a, b = StampThrottle(2.0), StampThrottle(2.0)
    pa = picks(a, stamps)
    pb = picks(b, [t for t in stamps if t != pa[3]])  # b never received one chosen frame
    assert set(pa) - set(pb) == {pa[3]} and len(set(pb) - set(pa)) == 1


def test_duplicates_skipped_and_backwards_stamps_restart():
    th = StampThrottle(1.0)
    assert not th.accept(9 * S + S // 2)
    assert th.accept(10 * S) and not th.accept(10 * S) and not th.accept(10 * S + S // 2)
    assert not th.accept(3 * S)  # a bag looped: start over (from the next slot) instead of
    assert not th.accept(3 * S + S // 10) and th.accept(4 * S)  # going silent until 11 s


def test_slop_must_fit_the_period():
    with pytest.raises(ValueError, match="half the period"):
        StampThrottle(50.0, slop_s=0.010)
