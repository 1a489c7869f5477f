"""dsc_ros.tools.node_set is the one description of the nodes; both launchers are built from it.

The ROS 2 launch file needs ``launch``/``launch_ros``, which are not installable in the pip world: here it
is executed against small stand-ins of those modules (recording what it builds), and tested for real only
where launch_ros is importable.
"""

import contextlib
import io
import runpy
import sys
import types

import pytest

from dsc_ros import wire  # noqa: E402
from dsc_ros.tools import launcher, node_set
from ros_helpers import ROOT

LAUNCH_FILE = ROOT / "launch" / "stereo_dsc.launch.py"


def test_three_nodes_with_remapped_camera_inputs():
    specs = node_set.node_specs("/cfg.yaml", "robot/", "/a/left/image_raw", "/b/right/image_raw")
    assert [s.name for s in specs] == ["left_encoder", "right_encoder", "decoder"]
    assert [s.module for s in specs] == [
        "dsc_ros.nodes.left_encoder",
        "dsc_ros.nodes.right_encoder",
        "dsc_ros.nodes.decoder",
    ]
    assert [s.executable for s in specs] == ["left_encoder", "right_encoder", "decoder"]
    assert all(s.namespace == "/robot" and s.params_file == "/cfg.yaml" and s.package == "dsc_ros" for s in specs)
    left, right, dec = specs
    assert dict(left.remappings) == {"left/image_raw": "/a/left/image_raw", "left/camera_info": "/a/left/camera_info"}
    assert dict(right.remappings) == {
        "right/image_raw": "/b/right/image_raw",
        "right/camera_info": "/b/right/camera_info",
    }
    assert not any("left" in a or "left" in b for a, b in right.remappings)
    assert dec.remappings == (("left/image_raw/compressed", "/a/left/image_raw/compressed"),)
    assert all(s.parameters == () for s in specs)  # nothing over the params file unless asked
    left, _, dec = node_set.node_specs(
        "/cfg.yaml", "", left_codec="jpeg", left_quality=70, left_input="compressed_image"
    )
    args = left.ros_args()  # after the params file: the later value wins, as with ros2 launch
    i = args.index("--params-file")
    assert args[i + 2 : i + 6] == ["-p", "left_codec:=jpeg", "-p", "left_quality:=70"]
    assert dict(left.parameters) == {"left_codec": "jpeg", "left_quality": 70}
    assert dec.ros_args()[dec.ros_args().index("-p") + 1] == "left_input:=compressed_image"


def test_kitti_defaults_and_namespace_forms():
    specs = node_set.node_specs()
    assert dict(specs[0].remappings)["left/image_raw"] == "/kitti/camera_color_left/image_raw"
    assert dict(specs[1].remappings)["right/camera_info"] == "/kitti/camera_color_right/camera_info"
    assert specs[0].namespace == "/dsc"
    for ns in ("", "/", None):
        assert node_set.node_specs(namespace=ns)[0].namespace == ""
    assert node_set.node_specs(namespace="/a/b/")[0].namespace == "/a/b"
    assert wire.sibling_topic("image_raw") == "camera_info"
    assert wire.sibling_topic("/x/image") == "/x/camera_info"


def test_ros_args_are_what_ros2_launch_passes():
    s = node_set.node_specs("/p.yaml", "/ns", "/l", "/r", "/li", "/ri")[0]
    assert s.ros_args() == [
        "--ros-args",
        "-r",
        "__node:=left_encoder",
        "-r",
        "__ns:=/ns",
        "--params-file",
        "/p.yaml",
        "-r",
        "left/image_raw:=/l",
        "-r",
        "left/camera_info:=/li",
    ]
    assert s.command("py") == ["py", "-m", "dsc_ros.nodes.left_encoder"] + s.ros_args()
    s = node_set.node_specs(None, "", "/l")[2]
    assert s.ros_args() == ["--ros-args", "-r", "__node:=decoder", "-r", "left/image_raw/compressed:=/l/compressed"]


def test_default_config_is_the_package_one():
    assert node_set.default_config() == str(ROOT / "config" / "stereo_dsc.yaml")


def test_fastdds_profile_is_the_default_unless_the_user_has_one():
    """Every dsc_ros process sets FASTDDS_DEFAULT_PROFILES_FILE to config/fastdds_profile.xml, but never
    over a profile the user chose (under either of Fast DDS' variable names)."""
    env = {}
    assert node_set.use_fastdds_profile(env) == node_set.fastdds_profile() == env["FASTDDS_DEFAULT_PROFILES_FILE"]
    for var in node_set.FASTDDS_PROFILE_VARS:
        mine = {var: "/etc/robot/fastdds.xml"}
        assert node_set.use_fastdds_profile(mine) == "/etc/robot/fastdds.xml"
        assert mine == {var: "/etc/robot/fastdds.xml"}


def test_fastdds_profile_sets_a_short_default_writer_heartbeat():
    """The soak's frame loss went with Fast DDS' 3-s default heartbeat (config/fastdds_profile.xml says why):
    the shipped profile must be a Fast DDS XML whose default data_writer beats at least 10 times a second."""
    import xml.etree.ElementTree as ET

    ns = {"d": "http://www.eprosima.com"}
    root = ET.parse(node_set.fastdds_profile()).getroot()
    (writer,) = [w for w in root.findall("d:profiles/d:data_writer", ns) if w.get("is_default_profile") == "true"]
    hb = writer.find("d:times/d:heartbeat_period", ns)
    period = int(hb.find("d:sec", ns).text) + int(hb.find("d:nanosec", ns).text) * 1e-9
    assert 0 < period <= 0.1


def test_player_command():
    cmd = node_set.player_command("/x.bag", "/l", "/r", ["--rate", "2"], python="py")
    assert cmd == [
        "py",
        "-m",
        "dsc_ros.tools.bags.player",
        "/x.bag",
        "--left-topic",
        "/l",
        "--right-topic",
        "/r",
        "--rate",
        "2",
    ]


def test_launcher_print_matches_node_set(tmp_path):
    bag = tmp_path / "b.bag"
    bag.write_bytes(b"")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = launcher.main(
            [
                "--print",
                "--namespace",
                "n",
                "--left-topic",
                "/L/image_raw",
                "--right-topic",
                "/R/image_raw",
                "--bag",
                str(bag),
                "--player-arg=--rate=0.5",
            ]
        )
    assert rc == 0
    lines = buf.getvalue().splitlines()
    want = [
        " ".join(s.command())
        for s in node_set.node_specs(node_set.default_config(), "n", "/L/image_raw", "/R/image_raw")
    ]
    want.append(" ".join(node_set.player_command(str(bag), "/L/image_raw", "/R/image_raw", ["--rate=0.5"])))
    assert lines == want


def test_launcher_runs_the_chosen_subset(capsys):
    """``--nodes``: one computer of a real rig runs only its own node(s), with the same command lines."""
    assert launcher.main(["--print", "--nodes", "decoder,left_encoder"]) == 0
    lines = capsys.readouterr().out.splitlines()
    specs = {s.name: " ".join(s.command()) for s in node_set.node_specs(node_set.default_config())}
    assert lines == [specs["left_encoder"], specs["decoder"]]  # node-set order, whatever the option's order
    assert set(node_set.NODE_NAMES) == set(specs)
    for bad in ("left", "left_encoder,camera", ","):
        assert launcher.main(["--print", "--nodes", bad]) == 2
        assert "choose from left_encoder, right_encoder, decoder" in capsys.readouterr().out


def test_launcher_refuses_missing_files(tmp_path, capsys):
    assert launcher.main([str(tmp_path / "nope.yaml")]) == 2
    assert launcher.main(["--bag", str(tmp_path / "nope.bag")]) == 2
    assert "not found" in capsys.readouterr().out


# ------------------------------------------------------------------------- launch file, launch mocked
class _Rec:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class _LaunchConfiguration:
    def __init__(self, name):
        self.name = name

    def perform(self, context):
        return context[self.name]


def _fake_launch_modules():
    launch = types.ModuleType("launch")
    actions = types.ModuleType("launch.actions")
    subst = types.ModuleType("launch.substitutions")
    lros = types.ModuleType("launch_ros")
    lros_actions = types.ModuleType("launch_ros.actions")
    launch.LaunchDescription = type("LaunchDescription", (_Rec,), {})
    for name in ("DeclareLaunchArgument", "ExecuteProcess", "OpaqueFunction", "TimerAction"):
        setattr(actions, name, type(name, (_Rec,), {}))
    subst.LaunchConfiguration = _LaunchConfiguration
    lros_actions.Node = type("Node", (_Rec,), {})
    launch.actions, launch.substitutions, lros.actions = actions, subst, lros_actions
    return {
        "launch": launch,
        "launch.actions": actions,
        "launch.substitutions": subst,
        "launch_ros": lros,
        "launch_ros.actions": lros_actions,
    }


def _run_mocked(overrides):
    mods = _fake_launch_modules()
    saved = {k: sys.modules.get(k) for k in mods}
    sys.modules.update(mods)
    try:
        ns = runpy.run_path(str(LAUNCH_FILE))
        ld = ns["generate_launch_description"]()
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    entities = ld.args[0]
    args = {e.args[0]: e.kwargs["default_value"] for e in entities if type(e).__name__ == "DeclareLaunchArgument"}
    context = dict(args, **overrides)
    (opaque,) = [e for e in entities if type(e).__name__ == "OpaqueFunction"]
    return args, opaque.kwargs["function"](context)


def test_launch_file_builds_the_node_set_with_launch_mocked():
    """launch/launch_ros are mocked here (not installable in the pip world); what the file builds is checked."""
    args, actions = _run_mocked({})
    assert set(args) == {
        "config",
        "namespace",
        "bag",
        "bag_delay",
        "left_topic",
        "right_topic",
        "respawn",
        "left_codec",
        "left_quality",
        "left_input",
    }
    assert args["left_topic"] == node_set.DEFAULT_LEFT_TOPIC and args["namespace"] == node_set.DEFAULT_NAMESPACE
    specs = node_set.node_specs(args["config"], args["namespace"], args["left_topic"], args["right_topic"])
    assert len(actions) == 3  # no bag: no player
    for a, s in zip(actions, specs):
        assert type(a).__name__ == "Node"
        assert a.kwargs["package"] == "dsc_ros" and a.kwargs["executable"] == s.executable
        assert a.kwargs["name"] == s.name and a.kwargs["namespace"] == s.namespace
        assert a.kwargs["parameters"] == [s.params_file] and a.kwargs["remappings"] == list(s.remappings)
        assert a.kwargs["respawn"] is True and a.kwargs["respawn_delay"] == node_set.RESPAWN_DELAY_S
    _, off = _run_mocked({"respawn": "false"})
    assert all(a.kwargs["respawn"] is False for a in off)


def test_launch_file_starts_the_player_for_a_bag_with_launch_mocked():
    _, actions = _run_mocked(
        {"bag": "/data/kitti.bag", "namespace": "/x", "left_topic": "/l/image_raw", "bag_delay": "3"}
    )
    nodes, timers = actions[:3], actions[3:]
    assert all(n.kwargs["namespace"] == "/x" for n in nodes)
    (timer,) = timers
    assert timer.kwargs["period"] == 3.0
    (proc,) = timer.kwargs["actions"]
    assert (
        proc.kwargs["cmd"][1:]
        == node_set.player_command("/data/kitti.bag", "/l/image_raw", node_set.DEFAULT_RIGHT_TOPIC)[1:]
    )


def test_launch_file_with_real_launch_ros():
    pytest.importorskip(
        "launch_ros",
        reason="launch_ros is not installable in the pip world; the launch file is tested above with launch mocked",
    )
    from launch import LaunchContext

    ns = runpy.run_path(str(LAUNCH_FILE))
    ld = ns["generate_launch_description"]()
    ctx = LaunchContext()
    for e in ld.entities:
        if type(e).__name__ == "DeclareLaunchArgument":
            e.execute(ctx)
    opaque = [e for e in ld.entities if type(e).__name__ == "OpaqueFunction"][0]
    nodes = opaque.execute(ctx)
    assert len(nodes) == 3


def test_ros2_run_wrappers_start_with_a_python_that_imports_them():
    """``ros2 run dsc_ros <exe>`` runs lib/dsc_ros/<exe>; in the pip world its interpreter must be the venv's
    (``/usr/bin/env python3`` found the system python, which has no dsc_ros)."""
    import subprocess
    from pathlib import Path

    lib = Path(sys.prefix) / "lib" / "dsc_ros"
    if not lib.is_dir():
        pytest.skip(f"no {lib}: the package is not installed into this interpreter's prefix (scripts/setup.sh)")
    for exe in ("left_encoder", "right_encoder", "decoder", "launcher"):
        lines = (lib / exe).read_text().splitlines()
        first = lines[0]
        assert first.startswith("#!"), first
        interp = first[2:].strip().split()
        # the module the wrapper runs (dsc_ros.nodes.<exe> or dsc_ros.tools.launcher), as written at build time
        module = next(ln.split()[1] for ln in lines if ln.startswith("from dsc_ros."))
        p = subprocess.run([*interp, "-c", f"import {module}"], capture_output=True, text=True, timeout=120, cwd="/")
        assert p.returncode == 0, f"{exe}: {first}: {p.stderr[-500:]}"
    p = subprocess.run([str(lib / "launcher"), "--help"], capture_output=True, text=True, timeout=120, cwd="/")
    assert p.returncode == 0 and "usage: dsc-launch" in p.stdout
