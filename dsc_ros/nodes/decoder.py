"""The decoder node (`dsc-decoder`, `ros2 run dsc_ros decoder`): two code streams -> a stereo image pair.

Why it looks like this:

* Codes are validated where they arrive (``dsc_core.container.parse``: pure Python, CRC-checked) and
  checked against the loaded model by the codec's own ``check`` (budget, role, family and head
  fingerprints, rate, latent shapes; the error's ``reason`` is the counter key) *before* they enter the
  pairing buffer, so a corrupt code or one from another model is counted and logged at once and can never
  occupy a slot or poison a pair.
* Pairing is by header stamp (:class:`dsc_ros.nodes.sync.StereoSync`: bounded, slop, counted drops). A right code
  whose left does not come within ``sync.timeout_ms`` is decoded *degraded* (no side information) when
  ``publish_degraded`` is true: the robot still gets a right image, and the degraded counter says so.
* Decoding runs on one worker thread behind a bounded drop-oldest queue: the executor only parses,
  pairs and queues, so subscriptions and the 1 Hz diagnostics never wait on the model, and memory stays
  flat if the model is slower than the cameras.
* The left may also be the left camera's own ``sensor_msgs/CompressedImage`` (``left_input:
  compressed_image``, JPEG or PNG as compressed_image_transport publishes it): its format and declared size
  are checked on arrival (``wire.compressed_image_info``, no pixels decoded), it pairs with right codes by
  stamp like a left code, and the worker decodes it and turns it into side information with
  ``codec.left_state_from_image``. Such a left carries no model fingerprint, so the right code is checked
  against this decoder's loaded model only (see the README, "Keep your left stream, shrink your right").
* Outputs are plain ``sensor_msgs/Image`` in the original encoding with the original header, plus
  CameraInfo restamped to the image stamp, which is what stereo_image_proc's exact-time sync needs.
"""

from __future__ import annotations

import collections
import sys
import time
from dataclasses import dataclass
from typing import Any

from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from dsc_ros import wire
from dsc_ros.msg import StereoCode
from dsc_ros.nodes.node_base import DscNode, failure_reason, run_node
from dsc_ros.nodes.sync import LEFT, RIGHT, Match, StereoSync

SIDES = (LEFT, RIGHT)


@dataclass
class Coded:
    """One received, validated code."""

    header: Any  # std_msgs/Header of the source image
    data: bytes  # the container (a left from a CompressedImage: the JPEG/PNG stream)
    info: Any  # dsc_core.container.Header, or wire.CompressedImageInfo for a CompressedImage left
    t_rx: float  # time.monotonic() at receipt


class DecoderNode(DscNode):
    def __init__(self, node_name=None, **kwargs):
        super().__init__("decoder", node_name, **kwargs)
        self.stats = {LEFT: self.new_stream("left decode"), RIGHT: self.new_stream("right decode")}
        self.sync = StereoSync(
            slop_ns=int(self.p["sync.slop_ms"] * 1e6),
            timeout_ns=int(self.p["sync.timeout_ms"] * 1e6),
            max_pending=int(self.p["sync.max_pending"]),
        )
        self._sync_drops_seen: dict[str, int] = {}
        self.left_input = str(self.p["left_input"])
        self.load_codec()
        if self.p["warmup"]:
            self._warmup()
        self._infos: dict[str, collections.OrderedDict[int, CameraInfo]] = {s: collections.OrderedDict() for s in SIDES}
        out = self.qos("output")
        self.image_pub = {s: self.create_publisher(Image, self.p[f"topics.{s}_image"], out) for s in SIDES}
        self.info_pub = {s: self.create_publisher(CameraInfo, self.p[f"topics.{s}_camera_info"], out) for s in SIDES}
        self.start_worker(self._work, self._evicted)
        inp = self.qos("input")
        code_sides = SIDES if self.left_input == "dsc_code" else (RIGHT,)
        self.code_sub = {
            s: self.create_subscription(StereoCode, self.p[f"topics.{s}_code"], lambda m, s=s: self._on_code(s, m), inp)
            for s in code_sides
        }
        # The left's input topic: its code, or the camera's CompressedImage (no left encoder in between).
        self.left_sub = self.code_sub.get(LEFT) or self.create_subscription(
            CompressedImage, self.p["topics.left_compressed"], self._on_compressed_left, inp
        )
        self.info_sub = {
            s: self.create_subscription(
                CameraInfo, self.p[f"topics.{s}_camera_info_relay"], lambda m, s=s: self._on_info(s, m), inp
            )
            for s in SIDES
        }
        period = max(0.005, min(0.05, self.p["sync.timeout_ms"] / 4e3))
        self._expire_timer = self.create_timer(period, self._expire)
        self.announce_ready(
            f"decoder: {self.left_sub.topic_name} + {self.code_sub[RIGHT].topic_name} -> "
            f"{self.image_pub[LEFT].topic_name}, {self.image_pub[RIGHT].topic_name}",
            outputs=list(self.image_pub.values()),
        )

    def _warmup(self) -> None:
        import numpy as np

        img = np.zeros((64, 64, 3), np.uint8)
        left, right = self.codec.encode_left(img, "rgb8"), self.codec.encode_right(img, "rgb8")
        for _ in range(2):
            state = self.codec.decode_left(left, return_state=True)
            self.codec.decode_right(right, left=state)
        self.codec.decode_right(right, left=None)
        if self.left_input == "compressed_image":
            self.codec.left_state_from_image(img, "rgb8")

    # ------------------------------------------------------------------ executor thread
    def _on_code(self, side: str, msg: StereoCode) -> None:
        import dsc_core

        t_rx = time.monotonic()
        st = self.stats[side]
        st.count_in()
        data = wire.msg_to_code(msg)
        stamp = msg.header.stamp
        where = f"{side} code stamped {stamp.sec}.{stamp.nanosec:09d}"
        try:
            hdr = dsc_core.container.parse(data)
            # The codec's own compatibility check (budget, role, family, head, rate, shapes), before the code
            # may occupy a pairing slot: what decode_* would refuse later is refused and counted now.
            self.codec.check(hdr, side, max_pixels=int(self.p["limits.max_pixels"]))
        except dsc_core.DSCError as e:
            st.count_drop(e.reason)
            self.problem(e.reason, f"dropped {where}: {e}")
            return
        matches = self.sync.push(side, wire.stamp_to_ns(stamp), Coded(msg.header, data, hdr, t_rx), time.monotonic_ns())
        self._count_sync_drops()
        self._dispatch(matches)

    def _on_compressed_left(self, msg: CompressedImage) -> None:
        """A left camera's CompressedImage: format and declared size checked (no pixels yet), then paired."""
        t_rx = time.monotonic()
        st = self.stats[LEFT]
        st.count_in()
        stamp = msg.header.stamp
        try:
            info = wire.compressed_image_info(msg, max_pixels=int(self.p["limits.max_pixels"]))
        except wire.ImageConversionError as e:
            st.count_drop(e.reason)
            self.problem(
                e.reason,
                f"dropped left compressed image stamped {stamp.sec}.{stamp.nanosec:09d} (format {msg.format!r}): {e}",
            )
            return
        matches = self.sync.push(
            LEFT, wire.stamp_to_ns(stamp), Coded(msg.header, wire.msg_to_code(msg), info, t_rx), time.monotonic_ns()
        )
        self._count_sync_drops()
        self._dispatch(matches)

    def _on_info(self, side: str, msg: CameraInfo) -> None:
        d = self._infos[side]
        d[wire.stamp_to_ns(msg.header.stamp)] = msg
        d.move_to_end(wire.stamp_to_ns(msg.header.stamp))
        while len(d) > 16:
            d.popitem(last=False)

    def _expire(self) -> None:
        self._dispatch(self.sync.expire(time.monotonic_ns()))

    def _count_sync_drops(self) -> None:
        for key, n in self.sync.drops.items():
            seen = self._sync_drops_seen.get(key, 0)
            if n > seen:
                self._sync_drops_seen[key] = n
                # "duplicate_left" / "left_overflow" -> the left stream's "duplicate" / "sync_overflow"
                side = LEFT if "left" in key else RIGHT
                reason = "duplicate" if key.startswith("duplicate") else "sync_overflow"
                self.stats[side].count_drop(reason, n - seen)
                self.problem(
                    f"{side}_{reason}",
                    f"{n - seen} {side} code(s) dropped by the pairing buffer "
                    f"({reason}); slop {self.p['sync.slop_ms']} ms, {self.p['sync.max_pending']} pending max",
                )

    def _dispatch(self, matches) -> None:
        for m in matches:
            if m.kind == "right_only" and not self.p["publish_degraded"]:
                self.stats[RIGHT].count_drop("no_left")
                self.problem(
                    "no_left", "right code without a left within sync.timeout_ms dropped (publish_degraded is false)"
                )
                continue
            if m.kind == "left_only" and not self.p["publish_unpaired_left"]:
                self.stats[LEFT].count_drop("no_right")
                continue
            if m.kind == "right_only":
                self.problem(
                    "no_left",
                    f"no left code within {self.p['sync.timeout_ms']} ms for the right code "
                    "stamped {:.3f}: decoding it degraded".format(m.stamp_ns / 1e9),
                )
            self.submit(m)

    def _evicted(self, m: Match) -> None:
        for side, item in ((LEFT, m.left), (RIGHT, m.right)):
            if item is not None:
                self.stats[side].count_drop("queue_overflow")
        self.problem(
            "queue_overflow",
            f"decoder slower than its input: dropped the oldest pair (stamp "
            f"{m.stamp_ns / 1e9:.3f}) from the decode queue (queue_size {self.p['queue_size']})",
        )

    # ------------------------------------------------------------------ worker thread
    def _work(self, m: Match) -> None:
        import dsc_core

        state = None
        if m.left is not None:
            t0 = time.monotonic()
            try:
                state, left_image = self._left_state(m.left)
            except Exception as e:
                self._decode_failed(LEFT, m.left, e)
            else:
                self._publish(LEFT, left_image, m.left, time.monotonic() - t0)
        if m.right is not None:
            if state is None and not self.p["publish_degraded"]:
                self.stats[RIGHT].count_drop("no_left")
                return
            t0 = time.monotonic()
            why = "no_left" if m.left is None else "left_undecodable"
            try:
                try:
                    img, info = self.codec.decode_right(
                        m.right.data, left=state, return_info=True, side_info=str(self.p["side_info"]) or None
                    )
                except dsc_core.MissingSideInformationError as e:
                    # A left of another size (a mis-configured or re-sized camera) is no side information
                    # for this right; the right itself is fine, so it goes out degraded, like one whose
                    # left never came.
                    if state is None or not self.p["publish_degraded"]:
                        raise
                    why = "side_info_mismatch"
                    self.problem(
                        why,
                        f"the right code stamped {m.stamp_ns / 1e9:.3f} cannot use its left "
                        f"({e}): decoding it degraded",
                    )
                    img, info = self.codec.decode_right(m.right.data, left=None, return_info=True)
            except Exception as e:
                self._decode_failed(RIGHT, m.right, e)
                return
            if info.degraded:
                self.stats[RIGHT].count_degraded(why)
            self._publish(RIGHT, img, m.right, time.monotonic() - t0)
        elif state is not None:
            self.stats[LEFT].count_unpaired()

    def _left_state(self, c: Coded):
        """(side information, the left image to publish) of a left code or a left CompressedImage."""
        if isinstance(c.info, wire.CompressedImageInfo):
            rgb = wire.compressed_image_to_numpy(c.data, c.info)
            return self.codec.left_state_from_image(rgb, "rgb8"), wire.rgb_to_encoding(rgb, c.info.encoding)
        state = self.codec.decode_left(c.data, return_state=True)
        return state, state.image

    def streams_of(self, m: Match):
        return [self.stats[side] for side, c in ((LEFT, m.left), (RIGHT, m.right)) if c is not None]

    def _decode_failed(self, side: str, c: Coded, e: Exception) -> None:
        reason = failure_reason(e, "decode_error")  # a left CompressedImage's corrupt pixels have theirs too
        self.stats[side].count_drop(reason)
        what = "compressed image" if isinstance(c.info, wire.CompressedImageInfo) else "code"
        self.problem(
            reason,
            f"could not decode the {side} {what} stamped {c.header.stamp.sec}."
            f"{c.header.stamp.nanosec:09d}: {type(e).__name__}: {e}",
        )

    def _publish(self, side: str, img, c: Coded, decode_s: float) -> None:
        msg = wire.numpy_to_image(img, c.info.encoding, Image(), header=c.header)
        self.image_pub[side].publish(msg)
        info = self._camera_info_for(side, c.header)
        if info is not None:
            self.info_pub[side].publish(info)
        self.stats[side].record_out(
            len(c.data), int(c.info.height) * int(c.info.width), decode_s, time.monotonic() - c.t_rx
        )

    def _camera_info_for(self, side: str, header):
        """The relayed CameraInfo of this frame (exact stamp) or the latest one, restamped to the image."""
        d = self._infos[side]
        if not d:
            return None
        try:
            src = d.get(wire.stamp_to_ns(header.stamp)) or next(reversed(d.values()))
        except (RuntimeError, StopIteration):  # dict changed under us (executor thread): skip this one
            return None
        out = CameraInfo()
        for field in src.get_fields_and_field_types():
            setattr(out, field, getattr(src, field))
        from std_msgs.msg import Header

        out.header = Header(stamp=header.stamp, frame_id=src.header.frame_id or header.frame_id)
        return out

    def extra_diagnostics(self, stream):
        side = LEFT if stream is self.stats[LEFT] else RIGHT
        return {
            "sync.pending": self.sync.pending(side),
            "sync.pairs": self.sync.counts["pairs"],
            "queue": len(self._queue) if self._queue is not None else 0,
        }

    def close(self) -> None:
        # What is still waiting for a partner goes out unpaired (degraded right) before the worker stops.
        if not self._closed and self._queue is not None and not self._queue.closed:
            self._dispatch(self.sync.flush())
        super().close()


def main(argv=None) -> int:
    return run_node(lambda: DecoderNode(), argv)


if __name__ == "__main__":
    sys.exit(main())
