"""dsc_core.paths.data_root: $DSC_DATA, else a checkout's data/, else the user's cache; never inside an
installed package (site-packages or /opt/ros may be read-only, and pip/apt would not know the files)."""

import os
import subprocess
import sys

from dsc_core import paths
from ros_helpers import ROOT


def _data_root_of(package_parent, env):
    code = "import sys; sys.path.insert(0, sys.argv[1]); from dsc_core.paths import data_root; print(data_root())"
    out = subprocess.run(
        [sys.executable, "-c", code, str(package_parent)], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_dsc_data_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("DSC_DATA", str(tmp_path / "robot_data"))
    assert paths.data_root() == tmp_path / "robot_data"


def test_a_checkout_keeps_its_data_folder(monkeypatch):
    monkeypatch.delenv("DSC_DATA", raising=False)
    assert paths.data_root() == ROOT / "data"


def test_an_installed_package_uses_the_user_cache_not_site_packages(tmp_path):
    site = tmp_path / "lib" / "python3" / "site-packages"
    (site / "dsc_core").mkdir(parents=True)
    (site / "dsc_core" / "__init__.py").write_text("")
    (site / "dsc_core" / "paths.py").write_text((ROOT / "dsc_core" / "paths.py").read_text())
    env = {k: v for k, v in os.environ.items() if k != "DSC_DATA"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    assert _data_root_of(site, env) == str(tmp_path / "cache" / "dsc_ros")
    env.pop("XDG_CACHE_HOME")
    env["HOME"] = str(tmp_path / "home")
    assert _data_root_of(site, env) == str(tmp_path / "home" / ".cache" / "dsc_ros")


def test_a_venv_inside_a_checkout_uses_the_checkouts_data(tmp_path):
    """make setup installs a non-editable copy into .venv/ of the checkout: `.venv/bin/dsc` must see the same
    data/ as `python -m dsc_core.cli` run from the checkout (they once saw different photo pools)."""
    checkout = tmp_path / "dsc_ros"
    (checkout / "dsc_core").mkdir(parents=True)
    (checkout / "setup.py").write_text("")
    (checkout / "package.xml").write_text("")
    site = checkout / ".venv" / "lib" / "python3" / "site-packages"
    (site / "dsc_core").mkdir(parents=True)
    (site / "dsc_core" / "__init__.py").write_text("")
    (site / "dsc_core" / "paths.py").write_text((ROOT / "dsc_core" / "paths.py").read_text())
    env = {k: v for k, v in os.environ.items() if k != "DSC_DATA"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    assert _data_root_of(site, env) == str(checkout / "data")
