"""ONE description of the dsc_ros node set, read by both launchers.

``launch/stereo_dsc.launch.py`` (real ROS 2, ``ros2 launch dsc_ros stereo_dsc.launch.py``) turns these specs
into ``launch_ros`` Nodes; ``dsc_ros.launcher`` (``dsc-launch``, the pip world without ``launch``) turns the
very same specs into processes with the command line ``ros2 launch`` would build
(``--ros-args -r __node:=... -r __ns:=... --params-file ... -r from:=to``). Nothing about which nodes run,
their names, parameters files or remappings lives anywhere else. Pure Python, no ROS import.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from dsc_ros.wire import DEFAULT_LEFT_TOPIC, DEFAULT_RIGHT_TOPIC, sibling_topic  # noqa: F401  (the camera defaults)

PACKAGE = "dsc_ros"
CONFIG_NAME = "stereo_dsc.yaml"
#: Fast DDS XML profile shipped in config/ (a 50 ms reliable heartbeat; the file says why).
FASTDDS_PROFILE_NAME = "fastdds_profile.xml"
#: The variables Fast DDS reads it from (the second is the Fast DDS 2 name, still honoured).
FASTDDS_PROFILE_VARS = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
DEFAULT_NAMESPACE = "dsc"
#: Logged by every node once it can serve (model loaded, subscriptions up); the pip launcher waits for it.
READY_MARKER = "dsc_ros node ready"
#: A node that dies is started again after this many seconds (both launchers): a camera link that loses its
#: encoder to a crash (a driver glitch, out of memory) comes back by itself. ``respawn:=false`` /
#: ``--no-respawn`` turn it off.
RESPAWN_DELAY_S = 0.5
#: ``dsc-launch --standby`` keeps one warm process per node (torch imported, model loaded, DDS participant up
#: under a hidden placeholder node, no node yet; started with STANDBY_ENV=1) and promotes it by writing "go" to
#: its stdin when the node dies; it prints STANDBY_MARKER once it can take over. See dsc_ros.node_base.stand_by.
STANDBY_ENV = "DSC_ROS_STANDBY"
STANDBY_MARKER = "dsc_ros standby ready"
#: Seconds after a promotion before the launcher starts the next standby: its torch import would compete with
#: the promoted node's start-up for the CPU on a small machine.
STANDBY_RESTART_DELAY_S = 5.0
#: Module of the bag player (another part of dsc_ros) that a launcher starts for ``--bag``.
PLAYER_MODULE = "dsc_ros.bags.player"


@dataclass(frozen=True)
class NodeSpec:
    name: str                      # node name, also its key in the params file
    executable: str                # `ros2 run dsc_ros <executable>` (CMake installs it to lib/dsc_ros)
    module: str                    # `python -m <module>` (the pip world), same main()
    namespace: str = ""
    params_file: Optional[str] = None
    remappings: Tuple[Tuple[str, str], ...] = field(default_factory=tuple)
    package: str = PACKAGE
    respawn: bool = True
    respawn_delay: float = RESPAWN_DELAY_S

    def ros_args(self) -> List[str]:
        """The arguments ``ros2 launch`` appends for this node."""
        args = ["--ros-args", "-r", f"__node:={self.name}"]
        if self.namespace:
            args += ["-r", f"__ns:={self.namespace}"]
        if self.params_file:
            args += ["--params-file", self.params_file]
        for src, dst in self.remappings:
            args += ["-r", f"{src}:={dst}"]
        return args

    def command(self, python: Optional[str] = None) -> List[str]:
        """The full command line of this node in the pip world."""
        return [python or sys.executable, "-m", self.module] + self.ros_args()


def normalize_namespace(ns: Optional[str]) -> str:
    ns = (ns or "").strip()
    if not ns or ns == "/":
        return ""
    return "/" + ns.strip("/")


def _share_config_file(name: str) -> str:
    """Where config/<name> is: the checkout, an ament prefix (colcon or the venv), or cwd."""
    here = Path(__file__).resolve()
    candidates = [here.parent.parent / "config" / name]
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p] + [sys.prefix]
    # an install tree: <prefix>/lib/pythonX.Y/site-packages/dsc_ros/node_set.py -> <prefix>/share/dsc_ros
    prefixes += [str(p) for p in here.parents[1:5]]
    candidates += [Path(p) / "share" / PACKAGE / "config" / name for p in prefixes]
    candidates.append(Path.cwd() / "config" / name)
    for c in dict.fromkeys(candidates):
        if c.is_file():
            return str(c)
    raise FileNotFoundError(f"{name} not found (looked in {', '.join(str(c) for c in candidates)})")


def default_config() -> str:
    """Where config/stereo_dsc.yaml is: the checkout, an ament prefix (colcon or the venv), or cwd."""
    return _share_config_file(CONFIG_NAME)


def fastdds_profile() -> str:
    """Where config/fastdds_profile.xml is (see that file for why a pipeline wants it)."""
    return _share_config_file(FASTDDS_PROFILE_NAME)


def use_fastdds_profile(env=None) -> Optional[str]:
    """Make dsc_ros' Fast DDS profile the default of ``env`` (``os.environ`` if None) unless the user has one.

    Call before the first ROS participant of the process exists (Fast DDS reads the variable then). Returns
    the profile in effect, or None when the file cannot be found (the pipeline works without it, with Fast
    DDS' 3-s heartbeat and the frame loss that comes with it under load).
    """
    env = os.environ if env is None else env
    for var in FASTDDS_PROFILE_VARS:
        if env.get(var):
            return env[var]
    try:
        env[FASTDDS_PROFILE_VARS[0]] = fastdds_profile()
    except FileNotFoundError:
        return None
    return env[FASTDDS_PROFILE_VARS[0]]


#: The node set, in start order (``dsc-launch --nodes`` picks from these).
NODE_NAMES = ("left_encoder", "right_encoder", "decoder")


def node_specs(params_file: Optional[str] = None, namespace: Optional[str] = DEFAULT_NAMESPACE,
               left_topic: str = DEFAULT_LEFT_TOPIC, right_topic: str = DEFAULT_RIGHT_TOPIC,
               left_info_topic: Optional[str] = None, right_info_topic: Optional[str] = None,
               respawn: bool = True) -> List[NodeSpec]:
    """The three nodes. Camera topics are remapped to the given inputs (camera_info next to each image).

    The encoders' inputs are remapped from their relative defaults (``left/image_raw`` ...), everything
    else stays relative and so lives in ``namespace``: ``<ns>/left/dsc_code``, ``<ns>/left/image_decoded``,
    ``<ns>/left/camera_info`` ... Remapping the inputs is what keeps the camera's own ``left/camera_info``
    apart from the decoder's output of the same relative name.
    """
    ns = normalize_namespace(namespace)
    pf = params_file

    def cam(role: str, image: str, info: Optional[str]) -> NodeSpec:
        return NodeSpec(
            name=f"{role}_encoder", executable=f"{role}_encoder", module=f"{PACKAGE}.{role}_encoder",
            namespace=ns, params_file=pf, respawn=respawn,
            remappings=((f"{role}/image_raw", image), (f"{role}/camera_info", info or sibling_topic(image))))

    return [
        cam("left", left_topic, left_info_topic),
        cam("right", right_topic, right_info_topic),
        NodeSpec(name="decoder", executable="decoder", module=f"{PACKAGE}.decoder", namespace=ns, params_file=pf,
                 respawn=respawn),
    ]


def player_command(bag: str, left_topic: str = DEFAULT_LEFT_TOPIC, right_topic: str = DEFAULT_RIGHT_TOPIC,
                   extra: Sequence[str] = (), python: Optional[str] = None) -> List[str]:
    """Command line of the bag player publishing ``bag``'s stereo images on the encoders' input topics."""
    return [python or sys.executable, "-m", PLAYER_MODULE, str(bag),
            "--left-topic", left_topic, "--right-topic", right_topic, *extra]
