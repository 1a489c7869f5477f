"""Where dsc_ros keeps the data it prepares: the photographs of ``dsc prepare-data`` and the demo's bags.

Stdlib only, so the ROS side (``dsc_ros.tools.demo``) can ask without importing the codec.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Set this to put the data anywhere (a shared disk, a robot's data partition).
ENV = "DSC_DATA"


def data_root() -> Path:
    """``$DSC_DATA`` if set; else ``data/`` of the source checkout this module runs from; else the user's cache,
    ``${XDG_CACHE_HOME:-~/.cache}/dsc_ros``.

    Why not next to the installed package: an installed package lives in site-packages or under
    ``/opt/ros/<distro>``, which may be read-only, is shared by every user, and pip or apt do not know
    files written there (they would survive an uninstall). A checkout keeps its ``data/`` (git-ignored),
    as the README's commands have always used.
    """
    env = os.environ.get(ENV)
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[1]
    if (repo / "setup.py").is_file() and (repo / "package.xml").is_file():
        return repo / "data"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "dsc_ros"
