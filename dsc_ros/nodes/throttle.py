"""Which frames a camera codes when it cannot code them all: a stamp-slot throttle (no ROS, no torch).

Why not "code the freshest frame whenever the worker is free": the two encoders run on different machines
at different speeds, so each would pick *different* frames, and the decoder would get lefts and rights that
never pair (the 10-minute soak of issue 6 lost 94% of its pairs that way). The cameras cannot talk to each
other, but they see the same hardware-synchronised stamps. So each decides from the stamp alone: time is cut
into slots of ``1 / max_rate_hz`` seconds on the absolute clock, and a camera codes the first frame of each
slot. Both cameras then choose the same frames without any exchange, whatever their load, as long as each
keeps up with ``max_rate_hz``.

``slop`` shifts the slot boundaries ahead by the largest left/right stamp difference the decoder accepts
(``sync.slop_ms``), so a left stamped just before a boundary and its right stamped just after it still fall
in the same slot: a frame is in slot ``floor((t + slop) / period)``, and the boundary lies ``slop`` before the
stamps that start a slot. Only stamps within the two cameras' own skew of ``k·period - slop`` are ambiguous.

A camera that starts (or whose stamps jump back, as when a bag loops) in the middle of a slot does not know
whether it saw that slot's first frame, so it codes nothing until the next slot begins: coding the frame
would only produce a code the other camera has no partner for.
"""

from __future__ import annotations


class StampThrottle:
    """``accept(stamp_ns)`` is True for the first frame of every slot; ``max_rate_hz <= 0`` accepts all."""

    def __init__(self, max_rate_hz: float, slop_s: float = 0.010):
        self.max_rate_hz = float(max_rate_hz)
        self.enabled = self.max_rate_hz > 0
        self.period_ns = int(round(1e9 / self.max_rate_hz)) if self.enabled else 0
        self.slop_ns = int(round(max(0.0, float(slop_s)) * 1e9))
        if self.enabled and self.slop_ns * 2 >= self.period_ns:
            raise ValueError(
                f"throttle slop {slop_s * 1e3:.1f} ms must be under half the period {1e3 / self.max_rate_hz:.1f} ms"
            )
        self._last_slot: int | None = None
        self._last_stamp: int | None = None

    def slot(self, stamp_ns: int) -> int:
        return (int(stamp_ns) + self.slop_ns) // self.period_ns

    def accept(self, stamp_ns: int) -> bool:
        if not self.enabled:
            return True
        stamp_ns = int(stamp_ns)
        slot = self.slot(stamp_ns)
        # A stamp going backwards (a bag looping, a clock reset) starts over rather than going silent
        # until the clock catches up again; both then wait for the next slot boundary.
        fresh = self._last_stamp is None or stamp_ns < self._last_stamp
        self._last_stamp = stamp_ns
        if fresh:
            self._last_slot = slot  # the rest of this slot is skipped, see above
            return False
        if slot > self._last_slot:
            self._last_slot = slot
            return True
        return False
