"""dsc_ros.nodes.sync: stamp pairing (slop, timeouts, bounded, counted drops, duplicates, disorder) and the
drop-oldest queue. Pure Python: no ROS needed."""

import threading
import time

import pytest

from dsc_ros.nodes.sync import DropOldestQueue, StereoSync

MS = 1_000_000


def kinds(ms):
    return [(m.kind, m.stamp_ns) for m in ms]


def test_exact_pair_either_order():
    s = StereoSync(slop_ns=0, timeout_ns=100 * MS)
    assert s.push("left", 10, "L10", now_ns=0) == []
    (m,) = s.push("right", 10, "R10", now_ns=1)
    assert (m.kind, m.stamp_ns, m.left, m.right) == ("pair", 10, "L10", "R10")
    assert s.push("right", 20, "R20", now_ns=2) == []
    (m,) = s.push("left", 20, "L20", now_ns=3)
    assert (m.left, m.right) == ("L20", "R20")
    assert s.pending("left") == s.pending("right") == 0
    assert s.counts["pairs"] == 2 and not s.drops


def test_slop_picks_closest_and_respects_bound():
    s = StereoSync(slop_ns=5 * MS, timeout_ns=1000 * MS)
    s.push("left", 100 * MS, "a", 0)
    s.push("left", 108 * MS, "b", 0)
    (m,) = s.push("right", 107 * MS, "r", 1)  # 7 ms from a (too far), 1 ms from b
    assert m.left == "b"
    assert s.push("right", 94 * MS, "r2", 2) == []  # 6 ms from a: outside the slop
    assert s.pending("left") == 1 and s.pending("right") == 1


def test_zero_slop_does_not_pair_neighbours():
    s = StereoSync(slop_ns=0, timeout_ns=1000 * MS)
    s.push("left", 100, "a", 0)
    assert s.push("right", 101, "r", 0) == []


def test_right_times_out_as_right_only_and_left_as_left_only():
    s = StereoSync(slop_ns=0, timeout_ns=50 * MS)
    s.push("right", 1, "R1", now_ns=0)
    s.push("left", 2, "L2", now_ns=10 * MS)
    assert s.expire(49 * MS) == []
    out = s.expire(50 * MS)
    assert kinds(out) == [("right_only", 1)] and out[0].right == "R1" and out[0].left is None
    assert out[0].waited_ns == 50 * MS
    out = s.expire(60 * MS)
    assert kinds(out) == [("left_only", 2)] and out[0].left == "L2"
    assert s.counts["right_only"] == 1 and s.counts["left_only"] == 1


def test_push_also_returns_expired():
    s = StereoSync(slop_ns=0, timeout_ns=10)
    s.push("right", 1, "R1", now_ns=0)
    out = s.push("left", 5, "L5", now_ns=100)
    assert kinds(out) == [("right_only", 1)]


def test_late_partner_after_timeout_is_a_duplicate_of_a_resolved_stamp():
    s = StereoSync(slop_ns=0, timeout_ns=10)
    s.push("right", 7, "R", 0)
    assert kinds(s.expire(10)) == [("right_only", 7)]
    # the right for stamp 7 is resolved; another right with stamp 7 is a duplicate ...
    assert s.push("right", 7, "R-again", 11) == []
    assert s.drops["duplicate_right"] == 1
    # ... but its late left is still welcome (it decodes alone after the timeout)
    assert s.push("left", 7, "L", 12) == []
    assert kinds(s.expire(30)) == [("left_only", 7)]


def test_duplicates_dropped_and_counted():
    s = StereoSync(slop_ns=0, timeout_ns=1000)
    s.push("left", 1, "a", 0)
    s.push("left", 1, "a-dup", 0)  # same stamp while pending
    assert s.drops["duplicate_left"] == 1
    (m,) = s.push("right", 1, "r", 0)
    assert m.left == "a"
    s.push("right", 1, "r-dup", 0)  # same stamp after being paired
    assert s.drops["duplicate_right"] == 1
    assert s.pending("left") == s.pending("right") == 0


def test_bounded_drop_oldest_stamp():
    s = StereoSync(slop_ns=0, timeout_ns=10**12, max_pending=3)
    for st in (50, 10, 40, 30):  # non-monotonic arrival
        s.push("left", st, f"L{st}", 0)
    assert s.pending("left") == 3 and s.drops["left_overflow"] == 1
    assert s.push("right", 10, "R10", 0) == []  # 10 was the oldest stamp: it is gone
    for st in (30, 40, 50):
        (m,) = s.push("right", st, f"R{st}", 0)
        assert m.left == f"L{st}"


def test_non_monotonic_stamps_pair_correctly():
    s = StereoSync(slop_ns=0, timeout_ns=10**12)
    order = [300, 100, 200]
    for st in order:
        s.push("left", st, f"L{st}", 0)
    got = [s.push("right", st, f"R{st}", 0)[0] for st in reversed(order)]
    assert [(m.left, m.right) for m in got] == [(f"L{st}", f"R{st}") for st in reversed(order)]


def test_memory_bounded_under_a_dead_side():
    s = StereoSync(slop_ns=0, timeout_ns=10**15, max_pending=8, remember=32)
    for i in range(10_000):
        s.push("left", i, i, i)
    assert s.pending("left") == 8
    assert s.drops["left_overflow"] == 10_000 - 8
    assert len(s._resolved["left"]) <= 32 and len(s._resolved_set["left"]) <= 32


def test_flush_hands_out_everything():
    s = StereoSync(slop_ns=0, timeout_ns=10**12)
    s.push("left", 1, "L", 5)
    s.push("right", 2, "R", 6)
    assert sorted(kinds(s.flush())) == [("left_only", 1), ("right_only", 2)]


def test_bad_arguments():
    with pytest.raises(ValueError):
        StereoSync(slop_ns=-1)
    with pytest.raises(ValueError):
        StereoSync(max_pending=0)
    with pytest.raises(ValueError):
        StereoSync().push("middle", 1, None, 0)


# ------------------------------------------------------------------------------------------ queue
def test_queue_drop_oldest_returns_evicted():
    q = DropOldestQueue(2)
    assert q.put(1) is None and q.put(2) is None
    assert q.put(3) == 1 and q.dropped == 1
    assert [q.get(0), q.get(0), q.get(0)] == [2, 3, None]


def test_queue_get_blocks_until_put_and_close_wakes():
    q = DropOldestQueue(1)
    got = []
    t = threading.Thread(target=lambda: got.append(q.get(timeout=5)))
    t.start()
    time.sleep(0.05)
    q.put("x")
    t.join(2)
    assert got == ["x"]
    t = threading.Thread(target=lambda: got.append(q.get(timeout=5)))
    t.start()
    t0 = time.monotonic()
    q.close()
    t.join(2)
    assert got[-1] is None and time.monotonic() - t0 < 1.0 and q.closed


def test_queue_rejects_zero_size():
    with pytest.raises(ValueError):
        DropOldestQueue(0)
