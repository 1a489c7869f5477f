"""What a dsc_ros node process agrees on with whoever starts it, and the DDS settings it runs with.

Why here, in the node runtime: a node prints the ready line and honours the standby variable whether it
was started by ``dsc-launch``, ``ros2 launch`` or a test; the launchers (``dsc_ros.tools``) read these
names from here, so the node runtime depends on no tool. Pure Python, no ROS import.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

PACKAGE = "dsc_ros"
#: Logged by every node once it can serve (model loaded, subscriptions up); the pip launcher waits for it.
READY_MARKER = "dsc_ros node ready"
#: ``dsc-launch --standby`` keeps one warm process per node (torch imported, model loaded, DDS participant up
#: under a hidden placeholder node, no node yet; started with STANDBY_ENV=1) and promotes it by writing "go" to
#: its stdin when the node dies; it prints STANDBY_MARKER once it can take over. See dsc_ros.nodes.node_base.stand_by.
STANDBY_ENV = "DSC_ROS_STANDBY"
STANDBY_MARKER = "dsc_ros standby ready"
#: Fast DDS XML profile shipped in config/ (a 50 ms reliable heartbeat; the file says why).
FASTDDS_PROFILE_NAME = "fastdds_profile.xml"
#: The variables Fast DDS reads it from (the second is the Fast DDS 2 name, still honoured).
FASTDDS_PROFILE_VARS = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")


def share_config_file(name: str) -> str:
    """Where config/<name> is: the checkout, an ament prefix (colcon or the venv), or cwd."""
    here = Path(__file__).resolve()
    candidates = [here.parents[2] / "config" / name]  # dsc_ros/nodes/process.py -> the checkout
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p] + [sys.prefix]
    # an install tree: <prefix>/lib/pythonX.Y/site-packages/dsc_ros/nodes/process.py -> <prefix>/share/dsc_ros
    prefixes += [str(p) for p in here.parents[2:6]]
    candidates += [Path(p) / "share" / PACKAGE / "config" / name for p in prefixes]
    candidates.append(Path.cwd() / "config" / name)
    for c in dict.fromkeys(candidates):
        if c.is_file():
            return str(c)
    raise FileNotFoundError(f"{name} not found (looked in {', '.join(str(c) for c in candidates)})")


def fastdds_profile() -> str:
    """Where config/fastdds_profile.xml is (see that file for why a pipeline wants it)."""
    return share_config_file(FASTDDS_PROFILE_NAME)


def use_fastdds_profile(env: MutableMapping[str, str] | None = None) -> str | None:
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
