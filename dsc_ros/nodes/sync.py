"""Pairing left and right codes by header stamp, and a bounded drop-oldest work queue. Pure Python.

Why not message_filters: it is not installable here, and the decoder needs behaviour it lacks anyway:
a right code that waits too long without its left must come *out* (to be decoded degraded) instead of
silently disappearing, and every drop must be counted by reason for the diagnostics.

Design (all bounded, so memory stays flat whatever the publishers do):

* ``StereoSync`` keeps at most ``max_pending`` unmatched items per side. A new item is matched with the
  pending item of the other side whose stamp is closest, if within ``slop_ns`` (ties: the earlier arrival).
  Otherwise it waits. When a side is full, the item with the oldest *stamp* is dropped (``<side>_overflow``):
  with non-monotonic stamps the stalest frame goes, not the last to arrive.
* Timeouts run on the arrival clock (``now_ns``, monotonic), not on stamps, so bag playback at any rate or
  with sim time behaves the same. ``expire(now_ns)`` returns rights that waited ``timeout_ns`` (decode
  degraded) and lefts that waited (decode alone; their right was lost).
* Duplicates: an item whose stamp equals one already pending on the same side, or one already resolved
  (paired or expired) within the last ``remember`` stamps of that side, is dropped (``duplicate_<side>``).

Not thread-safe on purpose: the decoder touches it only from its executor thread.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

LEFT, RIGHT = "left", "right"
_OTHER = {LEFT: RIGHT, RIGHT: LEFT}


@dataclass
class Match:
    """What the synchronizer hands out: ``kind`` is "pair", "right_only" (timed out) or "left_only"."""

    kind: str
    stamp_ns: int
    left: Any = None
    right: Any = None
    waited_ns: int = 0  # how long the first-arrived member waited (arrival clock)


@dataclass
class _Pending:
    stamp_ns: int
    item: Any
    arrival_ns: int
    seq: int


class StereoSync:
    """Bounded stamp pairing with slop, timeouts, counted drops. See the module docstring."""

    def __init__(self, slop_ns: int = 0, timeout_ns: int = 500_000_000, max_pending: int = 16, remember: int = 256):
        if slop_ns < 0 or timeout_ns <= 0 or max_pending < 1 or remember < 0:
            raise ValueError("need slop_ns >= 0, timeout_ns > 0, max_pending >= 1, remember >= 0")
        self.slop_ns = int(slop_ns)
        self.timeout_ns = int(timeout_ns)
        self.max_pending = int(max_pending)
        self._pending: dict[str, list[_Pending]] = {LEFT: [], RIGHT: []}
        self._resolved: dict[str, collections.deque[int]] = {
            LEFT: collections.deque(maxlen=remember),
            RIGHT: collections.deque(maxlen=remember),
        }
        self._resolved_set: dict[str, collections.Counter] = {LEFT: collections.Counter(), RIGHT: collections.Counter()}
        self._seq = 0
        #: drop reason -> count (never reset; diagnostics read it)
        self.drops: collections.Counter = collections.Counter()
        self.counts: collections.Counter = collections.Counter()  # pairs, right_only, left_only

    # ------------------------------------------------------------------ public
    def pending(self, side: str) -> int:
        return len(self._pending[side])

    def push(self, side: str, stamp_ns: int, item: Any, now_ns: int) -> list[Match]:
        """Add one item; return the matches it completes (0 or 1 pair, plus any overflow-free expiries)."""
        if side not in _OTHER:
            raise ValueError(f"side must be 'left' or 'right', got {side!r}")
        stamp_ns = int(stamp_ns)
        out = self.expire(now_ns)
        mine = self._pending[side]
        if self._resolved_set[side][stamp_ns] or any(p.stamp_ns == stamp_ns for p in mine):
            self.drops[f"duplicate_{side}"] += 1
            return out
        other = self._pending[_OTHER[side]]
        best: _Pending | None = None
        for p in other:
            d = abs(p.stamp_ns - stamp_ns)
            if d <= self.slop_ns and (
                best is None
                or d < abs(best.stamp_ns - stamp_ns)
                or (d == abs(best.stamp_ns - stamp_ns) and p.seq < best.seq)
            ):
                best = p
        if best is not None:
            other.remove(best)
            left, right = (item, best.item) if side == LEFT else (best.item, item)
            lstamp = stamp_ns if side == LEFT else best.stamp_ns
            rstamp = best.stamp_ns if side == LEFT else stamp_ns
            self._remember(LEFT, lstamp)
            self._remember(RIGHT, rstamp)
            self.counts["pairs"] += 1
            out.append(Match("pair", lstamp, left, right, max(0, now_ns - best.arrival_ns)))
            return out
        self._seq += 1
        mine.append(_Pending(stamp_ns, item, int(now_ns), self._seq))
        if len(mine) > self.max_pending:
            oldest = min(mine, key=lambda p: (p.stamp_ns, p.seq))
            mine.remove(oldest)
            self._remember(side, oldest.stamp_ns)
            self.drops[f"{side}_overflow"] += 1
        return out

    def expire(self, now_ns: int) -> list[Match]:
        """Hand out items that waited ``timeout_ns``: rights as "right_only", lefts as "left_only"."""
        out: list[Match] = []
        for side, kind in ((RIGHT, "right_only"), (LEFT, "left_only")):
            mine = self._pending[side]
            if not mine:
                continue
            keep = []
            for p in mine:
                if now_ns - p.arrival_ns >= self.timeout_ns:
                    self._remember(side, p.stamp_ns)
                    self.counts[kind] += 1
                    out.append(
                        Match(
                            kind,
                            p.stamp_ns,
                            p.item if side == LEFT else None,
                            p.item if side == RIGHT else None,
                            now_ns - p.arrival_ns,
                        )
                    )
                else:
                    keep.append(p)
            self._pending[side] = keep
        out.sort(key=lambda m: m.stamp_ns)
        return out

    def flush(self) -> list[Match]:
        """Hand out everything pending as unpaired (used on shutdown)."""
        far = max([p.arrival_ns for s in (LEFT, RIGHT) for p in self._pending[s]] or [0])
        return self.expire(far + self.timeout_ns)

    # ----------------------------------------------------------------- private
    def _remember(self, side: str, stamp_ns: int) -> None:
        dq, cnt = self._resolved[side], self._resolved_set[side]
        if dq.maxlen == 0:
            return
        if len(dq) == dq.maxlen:
            old = dq[0]
            cnt[old] -= 1
            if cnt[old] <= 0:
                del cnt[old]
        dq.append(stamp_ns)
        cnt[stamp_ns] += 1


T = TypeVar("T")


class DropOldestQueue(Generic[T]):
    """A bounded FIFO between the executor thread (producer) and a worker thread (consumer).

    Why drop-oldest: for live cameras the newest frame is worth the most, and a slow model must never make
    the executor block or memory grow. ``put`` never blocks; it returns the item it evicted (or None) so the
    caller can count it. ``get`` blocks up to ``timeout`` and returns None on timeout or after ``close``.
    """

    def __init__(self, maxsize: int):
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self._dq: collections.deque[T] = collections.deque()
        self._max = int(maxsize)
        self._cv = threading.Condition()
        self._closed = False
        self.dropped = 0

    def put(self, item: T) -> T | None:
        with self._cv:
            evicted = None
            if len(self._dq) >= self._max:
                evicted = self._dq.popleft()
                self.dropped += 1
            self._dq.append(item)
            self._cv.notify()
            return evicted

    def get(self, timeout: float | None = None) -> T | None:
        with self._cv:
            if not self._dq and not self._closed:
                self._cv.wait(timeout)
            if self._dq:
                return self._dq.popleft()
            return None

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        with self._cv:
            return len(self._dq)
