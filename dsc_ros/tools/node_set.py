"""ONE description of the dsc_ros node set, read by both launchers.

``launch/stereo_dsc.launch.py`` (real ROS 2, ``ros2 launch dsc_ros stereo_dsc.launch.py``) turns these specs
into ``launch_ros`` Nodes; ``dsc_ros.tools.launcher`` (``dsc-launch``, the pip world without ``launch``) turns the
very same specs into processes with the command line ``ros2 launch`` would build
(``--ros-args -r __node:=... -r __ns:=... --params-file ... -r from:=to``). Nothing about which nodes run,
their names, parameters files or remappings lives anywhere else. Pure Python, no ROS import.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

# The node set's camera defaults (the KITTI topics) and the lines/variables/profile a node process agrees on
# with its launcher live with the wire format and the node runtime; the launchers read them from here.
from dsc_ros.nodes.process import (  # noqa: F401
    FASTDDS_PROFILE_NAME,
    FASTDDS_PROFILE_VARS,
    PACKAGE,
    READY_MARKER,
    STANDBY_ENV,
    STANDBY_MARKER,
    fastdds_profile,
    share_config_file,
    use_fastdds_profile,
)
from dsc_ros.wire import DEFAULT_LEFT_TOPIC, DEFAULT_RIGHT_TOPIC, sibling_topic  # noqa: F401

CONFIG_NAME = "stereo_dsc.yaml"
DEFAULT_NAMESPACE = "dsc"
#: A node that dies is started again after this many seconds (both launchers): a camera link that loses its
#: encoder to a crash (a driver glitch, out of memory) comes back by itself. ``respawn:=false`` /
#: ``--no-respawn`` turn it off.
RESPAWN_DELAY_S = 0.5
#: Seconds after a promotion before the launcher starts the next standby: its torch import would compete with
#: the promoted node's start-up for the CPU on a small machine.
STANDBY_RESTART_DELAY_S = 5.0
#: Module of the bag player (another part of dsc_ros) that a launcher starts for ``--bag``.
PLAYER_MODULE = "dsc_ros.tools.bags.player"


@dataclass(frozen=True)
class NodeSpec:
    name: str  # node name, also its key in the params file
    executable: str  # `ros2 run dsc_ros <executable>` (CMake installs it to lib/dsc_ros)
    module: str  # `python -m <module>` (the pip world), same main()
    namespace: str = ""
    params_file: str | None = None
    remappings: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    parameters: tuple[tuple[str, object], ...] = field(default_factory=tuple)  # over the params file
    package: str = PACKAGE
    respawn: bool = True
    respawn_delay: float = RESPAWN_DELAY_S

    def ros_args(self) -> list[str]:
        """The arguments ``ros2 launch`` appends for this node."""
        args = ["--ros-args", "-r", f"__node:={self.name}"]
        if self.namespace:
            args += ["-r", f"__ns:={self.namespace}"]
        if self.params_file:
            args += ["--params-file", self.params_file]
        for name, value in self.parameters:  # after the file: rcl lets the later one win, as ros2 launch does
            args += ["-p", f"{name}:={value}"]
        for src, dst in self.remappings:
            args += ["-r", f"{src}:={dst}"]
        return args

    def command(self, python: str | None = None) -> list[str]:
        """The full command line of this node in the pip world."""
        return [python or sys.executable, "-m", self.module] + self.ros_args()


def normalize_namespace(ns: str | None) -> str:
    ns = (ns or "").strip()
    if not ns or ns == "/":
        return ""
    return "/" + ns.strip("/")


def default_config() -> str:
    """Where config/stereo_dsc.yaml is: the checkout, an ament prefix (colcon or the venv), or cwd."""
    return share_config_file(CONFIG_NAME)


#: The decoder's relative CompressedImage input (``topics.left_compressed``'s default), remapped next to the
#: left camera's image topic.
COMPRESSED_LEFT_TOPIC = "left/image_raw/compressed"

#: The node set, in start order (``dsc-launch --nodes`` picks from these).
NODE_NAMES = ("left_encoder", "right_encoder", "decoder")


def node_specs(
    params_file: str | None = None,
    namespace: str | None = DEFAULT_NAMESPACE,
    left_topic: str = DEFAULT_LEFT_TOPIC,
    right_topic: str = DEFAULT_RIGHT_TOPIC,
    left_info_topic: str | None = None,
    right_info_topic: str | None = None,
    respawn: bool = True,
    left_codec: str | None = None,
    left_quality: int | None = None,
    left_input: str | None = None,
) -> list[NodeSpec]:
    """The three nodes. Camera topics are remapped to the given inputs (camera_info next to each image).

    ``left_codec`` / ``left_quality`` (left encoder) and ``left_input`` (decoder), when given, override the
    params file (see dsc_ros/nodes/params.py). The decoder's CompressedImage input, read when ``left_input``
    is ``compressed_image``, is remapped to ``<left_topic>/compressed``, where compressed_image_transport
    publishes the left camera's JPEG/PNG.

    The encoders' inputs are remapped from their relative defaults (``left/image_raw`` ...), everything
    else stays relative and so lives in ``namespace``: ``<ns>/left/dsc_code``, ``<ns>/left/image_decoded``,
    ``<ns>/left/camera_info`` ... Remapping the inputs is what keeps the camera's own ``left/camera_info``
    apart from the decoder's output of the same relative name.
    """
    ns = normalize_namespace(namespace)
    pf = params_file

    def given(**values) -> tuple[tuple[str, object], ...]:
        return tuple((k, v) for k, v in values.items() if v is not None and v != "")

    def cam(role: str, image: str, info: str | None) -> NodeSpec:
        return NodeSpec(
            name=f"{role}_encoder",
            executable=f"{role}_encoder",
            module=f"{PACKAGE}.nodes.{role}_encoder",
            namespace=ns,
            params_file=pf,
            respawn=respawn,
            remappings=((f"{role}/image_raw", image), (f"{role}/camera_info", info or sibling_topic(image))),
            parameters=given(left_codec=left_codec, left_quality=left_quality) if role == "left" else (),
        )

    return [
        cam("left", left_topic, left_info_topic),
        cam("right", right_topic, right_info_topic),
        NodeSpec(
            name="decoder",
            executable="decoder",
            module=f"{PACKAGE}.nodes.decoder",
            namespace=ns,
            params_file=pf,
            respawn=respawn,
            remappings=((COMPRESSED_LEFT_TOPIC, left_topic.rstrip("/") + "/compressed"),),
            parameters=given(left_input=left_input),
        ),
    ]


def player_command(
    bag: str,
    left_topic: str = DEFAULT_LEFT_TOPIC,
    right_topic: str = DEFAULT_RIGHT_TOPIC,
    extra: Sequence[str] = (),
    python: str | None = None,
) -> list[str]:
    """Command line of the bag player publishing ``bag``'s stereo images on the encoders' input topics."""
    return [
        python or sys.executable,
        "-m",
        PLAYER_MODULE,
        str(bag),
        "--left-topic",
        left_topic,
        "--right-topic",
        right_topic,
        *extra,
    ]
