"""The parameters of the three nodes (names, defaults, descriptions) and the QoS they describe.

Why one table: the nodes declare exactly these (each with a ParameterDescriptor, so ``ros2 param
describe`` explains them), ``config/stereo_dsc.yaml`` sets them, and a test checks that the YAML holds no
key the nodes would silently ignore. Most parameters are read once at start-up, so they are declared
read-only: a runtime ``ros2 param set`` that would change nothing is refused instead. The few that the nodes
read at every frame (``runtime=True``) can be set at run time, checked against their choices.

Topic parameters are relative names, so ``__ns`` namespaces them; normal ROS remapping
(``-r left/image_raw:=/kitti/camera_color_left/image_raw``) applies on top, as for any node.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dsc_core.registry import SIDE_INFO_MODES
from dsc_ros import wire
from dsc_ros.wire import RELIABILITIES

DEVICES_HINT = "auto (cuda if available, else cpu), cpu, cuda, cuda:N"


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    description: str
    choices: Sequence[str] | None = None
    runtime: bool = False  # read at every frame: settable with `ros2 param set`
    check: Callable[[Any], str | None] | None = None  # value -> why it is refused, or None


#: The left camera's codecs (dsc_core.left_codecs.CODEC_IDS; repeated here so that declaring parameters
#: needs no dsc_core import): the learned level 1, or a classical codec whose decoded image the decoder
#: turns into side information.
LEFT_CODECS = ("level1", "avif", "jxl", "jpeg")
#: What the decoder takes as its left: the left encoder's code, or the camera's own CompressedImage.
LEFT_INPUTS = ("dsc_code", "compressed_image")


def check_left_quality(value) -> str | None:
    """Why ``value`` is no ``left_quality`` (an integer 0..100, or -1 for the codec's default), or None."""
    if isinstance(value, bool) or not isinstance(value, int) or not (value == -1 or 0 <= value <= 100):
        return f"left_quality={value!r}; must be an integer 0..100, or -1 for the codec's default"
    return None


def _qos(prefix: str, what: str, reliability: str, depth: int) -> list[Param]:
    return [
        Param(
            f"qos.{prefix}.reliability",
            reliability,
            f"QoS of {what}: 'reliable', 'best_effort', or 'sensor_data' (best effort, volatile, the camera-driver "
            "profile). A reliable subscriber does not match a best-effort publisher.",
            RELIABILITIES,
        ),
        Param(f"qos.{prefix}.depth", depth, f"QoS history depth (keep-last) of {what}."),
    ]


def _common(worker_queue: int) -> list[Param]:
    return [
        Param(
            "model",
            "dsc-default",
            "dsc_core registry name of the model (dsc models lists them). Encoders and "
            "decoder must use the same weights family; the decoder rejects codes of another model.",
        ),
        Param("device", "auto", f"Torch device for the codec: {DEVICES_HINT}."),
        Param(
            "warmup",
            True,
            "Run the codec once on a small image at start-up so the first real frame is not "
            "slowed by lazy initialisation.",
        ),
        Param(
            "queue_size",
            worker_queue,
            "Bound of the work queue between the ROS callbacks and the codec worker "
            "thread; when full the oldest item is dropped (counted as queue_overflow).",
        ),
        Param("diagnostics.period_s", 1.0, "Period of the /diagnostics publication (seconds)."),
        Param("diagnostics.window", 100, "Frames in the rolling window for bitrate and latency statistics."),
        Param("log_throttle_s", 5.0, "At most one log line per problem kind per this many seconds."),
        Param(
            "ready.wait_for_subscribers_s",
            5.0,
            "The 'node ready' log line (which the launcher waits for before "
            "it plays a bag) waits up to this long for every output to match a subscriber, since a message "
            "sent before discovery matched is lost; 0 = announce as soon as the model is loaded.",
        ),
    ]


def left_codec_params() -> list[Param]:
    """The left encoder's codec choice (issue "Any left stream"); read at every frame."""
    return [
        Param(
            "left_codec",
            "level1",
            "Codec of the left image: 'level1' (the learned codec, at 'rate'), or a "
            "classical codec at 'left_quality': 'avif', 'jxl' (needs pillow-jxl-plugin), 'jpeg'. The decoder "
            "turns any of them into side information for the right. Settable at run time.",
            choices=LEFT_CODECS,
            runtime=True,
        ),
        Param(
            "left_quality",
            -1,
            "Quality of a classical left codec on its own 0-100 scale; -1 = the codec's "
            "default (dsc_core.left_codecs). Ignored by level1. Settable at run time.",
            runtime=True,
            check=check_left_quality,
        ),
    ]


def encoder_params(role: str) -> list[Param]:
    """Parameters of the ``role`` ('left' or 'right') encoder."""
    return (
        _common(2)
        + (left_codec_params() if role == "left" else [])
        + [
            Param("rate", -1, "Rate point index for this camera (0 = lowest bitrate); -1 = the model's default."),
            Param(
                "throttle.max_rate_hz",
                0.0,
                "Code at most this many frames per second, chosen by stamp so that both "
                "cameras code the same frames without talking (see dsc_ros/throttle.py); 0 = code every frame. Set "
                "it, equal on both cameras, below the slower encoder's frame rate when the cameras outrun it.",
            ),
            Param(
                "throttle.slop_ms",
                10.0,
                "Largest left/right stamp difference the throttle must treat as one frame; "
                "keep it equal to the decoder's sync.slop_ms.",
            ),
            Param("topics.image", f"{role}/image_raw", "Input sensor_msgs/Image (rgb8, bgr8 or mono8)."),
            Param(
                "topics.camera_info",
                f"{role}/camera_info",
                "Input sensor_msgs/CameraInfo, relayed unchanged (optional).",
            ),
            Param("topics.code", f"{role}/dsc_code", "Output dsc_ros/StereoCode."),
            Param(
                "topics.camera_info_relay",
                f"{role}/dsc_camera_info",
                "Output: the input CameraInfo relayed over the compressed link for the decoder side.",
            ),
        ]
        + _qos(
            "input",
            "the image and camera_info subscriptions (10 frames: a busy 2-core machine starves the "
            "executor for a few hundred ms; at depth 5 the 10-minute soak lost 18% of its input frames)",
            "reliable",
            10,
        )
        + _qos("output", "the code and camera_info relay publishers", "reliable", 10)
    )


DECODER_PARAMS: list[Param] = (
    _common(4)
    + [
        Param(
            "publish_degraded",
            True,
            "Publish the right image decoded without side information when its left code "
            "did not arrive within sync.timeout_ms (counted as degraded).",
        ),
        Param(
            "publish_unpaired_left",
            True,
            "Publish a left image whose right code did not arrive within "
            "sync.timeout_ms (the left decodes on its own).",
        ),
        Param(
            "side_info",
            "",
            "How the right uses its left: 'matched' (the learned fusion, then the decoded left "
            "pasted where a full-range match finds the right), 'matched-zncc' (the same with the classical ZNCC "
            "matching cost), 'learned' (the learned fusion alone, faster), or "
            "'' for the model's default. Read at every pair, so it can be changed at run time.",
            choices=("", *SIDE_INFO_MODES),
            runtime=True,
        ),
        Param(
            "left_input",
            "dsc_code",
            "What the decoder takes as the left: 'dsc_code' (the left encoder's "
            "StereoCode on topics.left_code) or 'compressed_image' (a sensor_msgs/CompressedImage, JPEG or PNG, on "
            "topics.left_compressed, as compressed_image_transport publishes it; no left encoder needed). A right "
            "code is then checked against this decoder's loaded model only.",
            choices=LEFT_INPUTS,
        ),
        Param("sync.slop_ms", 10.0, "Largest stamp difference (ms) for a left and a right code to form a pair."),
        Param(
            "sync.timeout_ms",
            3000.0,
            "How long (ms, arrival clock) a code waits for its partner; must exceed "
            "the difference between the two cameras' encode times (on 2 CPU cores that is up to ~2 s).",
        ),
        Param("sync.max_pending", 16, "Unpaired codes kept per side; beyond this the oldest stamp is dropped."),
        Param(
            "limits.max_pixels",
            3840 * 2160,
            "Codes claiming a larger image (height x width) are dropped on "
            "arrival (dropped.too_large): decoding a forged huge claim would cost gigabytes.",
        ),
        Param("topics.left_code", "left/dsc_code", "Input dsc_ros/StereoCode of the left camera."),
        Param("topics.right_code", "right/dsc_code", "Input dsc_ros/StereoCode of the right camera."),
        Param(
            "topics.left_compressed",
            "left/image_raw/compressed",
            "Input sensor_msgs/CompressedImage of the left camera when left_input is 'compressed_image'.",
        ),
        Param("topics.left_camera_info_relay", "left/dsc_camera_info", "Input CameraInfo relayed by the left encoder."),
        Param(
            "topics.right_camera_info_relay", "right/dsc_camera_info", "Input CameraInfo relayed by the right encoder."
        ),
        Param("topics.left_image", "left/image_decoded", "Output sensor_msgs/Image, original encoding and header."),
        Param("topics.right_image", "right/image_decoded", "Output sensor_msgs/Image, original encoding and header."),
        Param(
            "topics.left_camera_info",
            "left/camera_info",
            "Output CameraInfo, stamped like left/image_decoded (stereo_image_proc pairs them exactly).",
        ),
        Param("topics.right_camera_info", "right/camera_info", "Output CameraInfo, stamped like right/image_decoded."),
    ]
    + _qos("input", "the code and camera_info relay subscriptions", "reliable", 10)
    + _qos("output", "the decoded image and camera_info publishers", "reliable", 5)
)


def params_for(node_kind: str) -> list[Param]:
    """'left_encoder' | 'right_encoder' | 'decoder' -> its parameter table."""
    if node_kind == "decoder":
        return list(DECODER_PARAMS)
    if node_kind in ("left_encoder", "right_encoder"):
        return encoder_params(node_kind.split("_")[0])
    raise ValueError(f"unknown node kind {node_kind!r}")


def declare(node, specs: Sequence[Param]) -> dict[str, Any]:
    """Declare ``specs`` on an rclpy node; return {name: value}. Raises ValueError on a bad choice.

    Floats are declared with dynamic typing so ``slop_ms: 5`` in YAML (an int) is accepted and coerced.
    """
    from rcl_interfaces.msg import ParameterDescriptor

    values: dict[str, Any] = {}
    for p in specs:
        desc = p.description + (f" One of: {', '.join(p.choices)}." if p.choices else "")
        is_float = isinstance(p.default, float)
        d = ParameterDescriptor(description=desc, read_only=not p.runtime, dynamic_typing=is_float)
        v = node.declare_parameter(p.name, p.default, d).value
        if is_float:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"parameter {p.name} must be a number, got {v!r}")
            v = float(v)
        if p.choices and v not in p.choices:
            raise ValueError(f"parameter {p.name}={v!r}; must be one of {', '.join(p.choices)}")
        why = p.check(v) if p.check else None
        if why:
            raise ValueError(f"parameter {why}")
        values[p.name] = v
    runtime = {p.name: p for p in specs if p.runtime}
    if runtime:
        node.add_on_set_parameters_callback(lambda changes: _set_at_runtime(changes, runtime, values))
    return values


def _set_at_runtime(changes, runtime: dict[str, Param], values: dict[str, Any]):
    """Accept a ``ros2 param set`` of runtime parameters that pass their choices and checks; ``values``
    (the node's ``self.p``) follows. Read-only parameters never get here: rclpy refuses them first."""
    from rcl_interfaces.msg import SetParametersResult

    for c in changes:
        spec = runtime.get(c.name)
        if spec is not None and spec.choices and c.value not in spec.choices:
            return SetParametersResult(
                successful=False,
                reason=f"{c.name}={c.value!r}; must be one of {', '.join(repr(x) for x in spec.choices)}",
            )
        why = spec.check(c.value) if spec is not None and spec.check else None
        if why:
            return SetParametersResult(successful=False, reason=why)
    for c in changes:
        if c.name in runtime:
            values[c.name] = c.value
    return SetParametersResult(successful=True)


def qos_profile(reliability: str, depth: int, durability: str = "volatile"):
    """'reliable' | 'best_effort' | 'sensor_data' + depth -> rclpy QoSProfile (keep-last, volatile).

    The one QoS builder of dsc_ros: :func:`dsc_ros.wire.qos_policy` says what the presets mean (and raises
    ValueError for a bad one), this only spells it in rclpy's enums."""
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    policy = wire.qos_policy(reliability, depth, durability)
    kw = {}
    if policy.durability == "volatile":
        kw["durability"] = DurabilityPolicy.VOLATILE
    rel = ReliabilityPolicy.RELIABLE if policy.reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=policy.depth, reliability=rel, **kw)


def values_from_command_line(argv: Sequence[str], names: Sequence[str]) -> dict[str, Any]:
    """The values of ``names`` a node started with ``argv`` will get, read without rclpy.

    For the warm standby (``dsc-launch --standby``), which loads the model before its node exists (the node
    is what would read the parameters).
    It reads the ``--params-file`` entries that apply to the node (``/**``, ``/**/NAME``, ``/NS/NAME``,
    ``NS/NAME``, and ``NAME`` without a namespace) in file order, files in command-line order, then the
    ``-p name:=value`` overrides, as rcl applies them; the table's default for the rest. Other wildcard keys
    are not understood: the standby then loads the default model, and the node, once it has its real
    parameters, loads what they say (slower, never wrong).
    """
    import yaml

    defaults = {p.name: p.default for p in _common(0)}
    values = {n: defaults.get(n) for n in names}
    args = list(argv)
    ros = args[args.index("--ros-args") + 1 :] if "--ros-args" in args else []
    node, ns, files, overrides = None, "", [], []
    i = 0
    while i < len(ros):
        a, nxt = ros[i], (ros[i + 1] if i + 1 < len(ros) else "")
        if a in ("-r", "--remap") and ":=" in nxt:
            src, dst = nxt.split(":=", 1)
            if src == "__node":
                node = dst
            elif src == "__ns":
                ns = dst.strip("/")
            i += 2
        elif a == "--params-file":
            files.append(nxt)
            i += 2
        elif a in ("-p", "--param") and ":=" in nxt:
            overrides.append(nxt.split(":=", 1))
            i += 2
        else:
            i += 1
    keys = {"/**"}
    if node:
        keys |= {f"/**/{node}"} | ({f"{ns}/{node}", f"/{ns}/{node}"} if ns else {node, f"/{node}"})
    for path in files:
        try:
            with open(path) as f:
                doc = yaml.safe_load(f) or {}
        except (OSError, yaml.YAMLError):
            continue
        for key, entry in doc.items():
            if key in keys and isinstance(entry, dict):
                flat = flatten(entry.get("ros__parameters") or {})
                values.update({n: flat[n] for n in names if n in flat})
    for name, text in overrides:
        if name in values:
            values[name] = yaml.safe_load(text)
    return values


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'qos': {'input': {'depth': 5}}} -> {'qos.input.depth': 5} (how ROS names nested YAML parameters)."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
