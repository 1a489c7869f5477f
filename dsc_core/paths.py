"""Where dsc_ros keeps the data it prepares: the photographs of ``dsc prepare-data`` and the demo's bags.

Stdlib only, so the ROS side (``dsc_ros.tools.demo``) can ask without importing the codec.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Set this to put the data anywhere (a shared disk, a robot's data partition).
ENV = "DSC_DATA"


def data_root() -> Path:
    """``$DSC_DATA`` if set; else ``data/`` of the source checkout this module belongs to; else the user's
    cache, ``${XDG_CACHE_HOME:-~/.cache}/dsc_ros``.

    "Belongs to" means it runs from the checkout, or it is installed into a virtual environment inside the
    checkout (``make setup``'s ``.venv``): ``.venv/bin/dsc`` and ``python -m dsc_core.cli`` in the checkout
    must see the same photographs, or ``photostereo:N`` and training silently use different pools.

    Why not next to the installed package: an installed package lives in site-packages or under
    ``/opt/ros/<distro>``, which may be read-only, is shared by every user, and pip or apt do not know
    files written there (they would survive an uninstall). A checkout keeps its ``data/`` (git-ignored),
    as the README's commands have always used.
    """
    env = os.environ.get(ENV)
    if env:
        return Path(env).expanduser()
    repo = enclosing_checkout(Path(__file__).resolve())
    if repo is not None:
        return repo / "data"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "dsc_ros"


def enclosing_checkout(path: Path) -> Path | None:
    """The nearest folder above ``path`` that is a dsc_ros source checkout (``setup.py``, ``package.xml`` and
    ``dsc_core/``), or None."""
    for folder in path.parents:
        if (folder / "setup.py").is_file() and (folder / "package.xml").is_file() and (folder / "dsc_core").is_dir():
            return folder
    return None
