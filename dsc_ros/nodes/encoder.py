"""The encoder node, shared by both cameras: image -> dsc_core.encode_<role> -> dsc_ros/StereoCode.

Why one class for two nodes: the left and right encoders differ only in the dsc_core call
(``encode_left`` / ``encode_right``) and their default topic names. In particular the right encoder
subscribes to its own camera and nothing else: distributed source coding means the right camera never
sees the left one; the decoder alone brings them together.

Flow: the subscription callback only validates and converts (``wire.image_to_numpy``, a copy of
the pixels) and queues the frame; a worker thread runs the codec and publishes. A frame the node
cannot use (bad encoding, step, size) is counted under its reason and logged (throttled); the node keeps
serving. The left encoder reads ``left_codec`` / ``left_quality`` at every frame (settable at run time):
a classical codec (AVIF, JPEG XL, JPEG) puts its stream in the left container instead of level 1's code,
and the decoder turns it into side information all the same. CameraInfo is relayed unchanged on
``topics.camera_info_relay`` so the decoder side can publish it next to the decoded image.
"""

from __future__ import annotations

import time

from sensor_msgs.msg import CameraInfo, Image

from dsc_ros import wire
from dsc_ros.msg import StereoCode
from dsc_ros.nodes.node_base import DscNode, failure_reason, run_node
from dsc_ros.nodes.throttle import StampThrottle

_ENCODE = {"left": "encode_left", "right": "encode_right"}


class EncoderNode(DscNode):
    def __init__(self, role: str, node_name=None, **kwargs):
        if role not in _ENCODE:
            raise ValueError(f"role must be 'left' or 'right', got {role!r}")
        super().__init__(f"{role}_encoder", node_name, **kwargs)
        self.role = role
        self.stats = self.new_stream(f"{role} encode")
        self.rate = None if int(self.p["rate"]) < 0 else int(self.p["rate"])
        self.throttle = StampThrottle(float(self.p["throttle.max_rate_hz"]), float(self.p["throttle.slop_ms"]) / 1e3)
        codec = self.load_codec()
        self._encode = getattr(codec, _ENCODE[role])
        if role == "left":
            why = _left_codec_unavailable(str(self.p["left_codec"]))
            if why:
                raise ValueError(f"parameter left_codec: {why}")
            # After params.declare's own callback (choices, quality range): a codec this Python cannot run
            # is refused at set time too, with the reason, instead of failing every frame afterwards.
            self.add_on_set_parameters_callback(self._refuse_unavailable_codec)
        rates = getattr(codec, f"{role}_rates", None)
        if self.rate is not None and rates is not None and self.rate not in list(rates):
            raise ValueError(
                f"parameter rate={self.rate}: model {self.p['model']} has {role} rates {list(rates)} (-1 = its default)"
            )
        if self.p["warmup"]:
            self._warmup()
        self.code_pub = self.create_publisher(StereoCode, self.p["topics.code"], self.qos("output"))
        self.info_pub = self.create_publisher(CameraInfo, self.p["topics.camera_info_relay"], self.qos("output"))
        self.start_worker(self._work, self._evicted)
        self.image_sub = self.create_subscription(Image, self.p["topics.image"], self._on_image, self.qos("input"))
        self.info_sub = self.create_subscription(
            CameraInfo, self.p["topics.camera_info"], self._on_info, self.qos("input")
        )
        self.announce_ready(
            f"{role} encoder: {self.image_sub.topic_name} -> {self.code_pub.topic_name}", outputs=[self.code_pub]
        )

    def _warmup(self) -> None:
        import numpy as np

        img = np.zeros((64, 64, 3), np.uint8)
        rate, options = self._encode_options()
        for _ in range(2):  # TorchScript's profiling executor specialises on the second call
            self._encode(img, "rgb8", rate, **options)

    def _encode_options(self):
        """(rate, keyword options) of the next encode: ``left_codec`` / ``left_quality`` are read at every
        frame (settable at run time); a classical left takes a quality, never a rate."""
        codec = str(self.p.get("left_codec", "level1"))
        if codec == "level1":
            return self.rate, {}
        quality = int(self.p["left_quality"])
        return None, {"codec": codec, "quality": None if quality < 0 else quality}

    def _refuse_unavailable_codec(self, changes):
        from rcl_interfaces.msg import SetParametersResult

        for c in changes:
            why = _left_codec_unavailable(c.value) if c.name == "left_codec" else None
            if why:
                return SetParametersResult(successful=False, reason=f"left_codec={c.value!r}: {why}")
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ executor thread
    def _on_image(self, msg: Image) -> None:
        t_rx = time.monotonic()
        self.stats.count_in()
        if not self.throttle.accept(wire.stamp_to_ns(msg.header.stamp)):
            self.stats.count_skipped()
            return
        try:
            arr, encoding = wire.image_to_numpy(msg)
        except wire.ImageConversionError as e:
            self.stats.count_drop(e.reason)
            self.problem(
                e.reason,
                f"dropped {self.role} image stamped {msg.header.stamp.sec}.{msg.header.stamp.nanosec:09d}: {e}",
            )
            return
        self.submit((msg.header, arr, encoding, t_rx))

    def _evicted(self, item) -> None:
        header = item[0]
        self.stats.count_drop("queue_overflow")
        self.problem(
            "queue_overflow",
            f"{self.role} encoder slower than its camera: dropped the oldest frame "
            f"(stamp {header.stamp.sec}.{header.stamp.nanosec:09d}) from the encode queue "
            f"(queue_size {self.p['queue_size']})",
        )

    def _on_info(self, msg: CameraInfo) -> None:
        self.info_pub.publish(msg)

    # ------------------------------------------------------------------ worker thread
    def _work(self, item) -> None:
        header, arr, encoding, t_rx = item
        t0 = time.monotonic()
        try:
            rate, options = self._encode_options()
            data, hdr = self._encode(arr, encoding, rate, **options, return_header=True)
        except Exception as e:  # one bad frame must not stop the camera
            reason = failure_reason(e, "encode_error")
            self.stats.count_drop(reason)
            self.problem(
                reason, f"could not encode the {self.role} image {arr.shape} {encoding}: {type(e).__name__}: {e}"
            )
            return
        t1 = time.monotonic()
        self.code_pub.publish(wire.code_to_msg(data, header, hdr, StereoCode()))
        self.stats.record_out(len(data), arr.shape[0] * arr.shape[1], t1 - t0, time.monotonic() - t_rx)


def _left_codec_unavailable(name: str):
    """Why the left codec ``name`` cannot run in this Python (Pillow without AVIF or JPEG XL), or None."""
    from dsc_core import left_codecs  # numpy + Pillow: no torch

    if name not in left_codecs.CODECS:  # level1, or a name the parameter's choices refuse with their reason
        return None
    ok, why = left_codecs.get(name).availability()
    return None if ok else why


def main_for(role: str, argv=None) -> int:
    return run_node(lambda: EncoderNode(role), argv)
