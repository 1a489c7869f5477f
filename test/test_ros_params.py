"""The parameter table (dsc_ros.nodes.params) against config/stereo_dsc.yaml, QoS mapping, and declaration on a
real rclpy node (descriptions, read-only, type coercion, bad choices)."""

import pytest
import yaml

from ros_helpers import ROOT, ros_available

pytestmark = pytest.mark.skipif(ros_available() is not None, reason=str(ros_available()))

from dsc_ros.nodes import params  # noqa: E402

CONFIG = ROOT / "config" / "stereo_dsc.yaml"


def yaml_params():
    doc = yaml.safe_load(CONFIG.read_text())
    return {key.split("/")[-1]: params.flatten(v["ros__parameters"]) for key, v in doc.items()}


def test_yaml_has_the_three_nodes_and_only_declared_keys():
    y = yaml_params()
    assert set(y) == {"left_encoder", "right_encoder", "decoder"}
    for node, values in y.items():
        declared = {p.name: p for p in params.params_for(node)}
        unknown = set(values) - set(declared)
        assert not unknown, f"{node}: {sorted(unknown)} in the YAML are not declared by the node"
        for k, v in values.items():
            d = declared[k].default
            assert type(v) is type(d) or (isinstance(d, float) and isinstance(v, int)), (node, k, v, d)
            if declared[k].choices:
                assert v in declared[k].choices


def test_yaml_defaults_match_table_defaults():
    """The YAML documents the defaults; a silent divergence would confuse users."""
    for node, values in yaml_params().items():
        declared = {p.name: p.default for p in params.params_for(node)}
        for k, v in values.items():
            assert v == declared[k], f"{node}.{k}: yaml {v!r} != table default {declared[k]!r}"


def test_right_encoder_params_mention_no_left_topic():
    for p in params.params_for("right_encoder"):
        if p.name.startswith("topics."):
            assert "left" not in p.default


def test_every_param_is_described():
    for node in ("left_encoder", "right_encoder", "decoder"):
        for p in params.params_for(node):
            assert len(p.description) > 15, p.name


def test_qos_profile():
    from rclpy.qos import ReliabilityPolicy

    assert params.qos_profile("reliable", 3).reliability == ReliabilityPolicy.RELIABLE
    assert params.qos_profile("best_effort", 3).reliability == ReliabilityPolicy.BEST_EFFORT
    q = params.qos_profile("sensor_data", 7)
    assert q.reliability == ReliabilityPolicy.BEST_EFFORT and q.depth == 7
    with pytest.raises(ValueError):
        params.qos_profile("lossy", 1)
    with pytest.raises(ValueError):
        params.qos_profile("reliable", 0)


@pytest.fixture
def ctx():
    import rclpy
    from rclpy.context import Context
    from rclpy.signals import SignalHandlerOptions

    c = Context()
    rclpy.init(context=c, domain_id=232, signal_handler_options=SignalHandlerOptions.NO)
    yield c
    c.try_shutdown()


def test_declare_on_a_node(ctx):
    import rclpy
    from rclpy.parameter import Parameter

    node = rclpy.create_node(
        "decoder",
        context=ctx,
        parameter_overrides=[
            Parameter("sync.slop_ms", Parameter.Type.INTEGER, 5),  # an int in YAML for a float param
            Parameter("qos.input.reliability", Parameter.Type.STRING, "sensor_data"),
        ],
    )
    try:
        v = params.declare(node, params.DECODER_PARAMS)
        assert v["sync.slop_ms"] == 5.0 and isinstance(v["sync.slop_ms"], float)
        assert v["qos.input.reliability"] == "sensor_data" and v["model"] == "dsc-default"
        d = node.describe_parameter("sync.timeout_ms")
        assert d.read_only and "ms" in d.description
        res = node.set_parameters([Parameter("model", Parameter.Type.STRING, "other")])
        assert not res[0].successful  # read-only: start-up parameters cannot be changed at runtime
    finally:
        node.destroy_node()


def test_side_info_is_settable_at_runtime_and_checked(ctx):
    import rclpy
    from rclpy.parameter import Parameter

    node = rclpy.create_node("decoder", context=ctx)
    try:
        v = params.declare(node, params.DECODER_PARAMS)
        assert v["side_info"] == "" and not node.describe_parameter("side_info").read_only
        ok = node.set_parameters([Parameter("side_info", Parameter.Type.STRING, "learned")])[0]
        assert ok.successful and v["side_info"] == "learned"  # the node's values follow
        bad = node.set_parameters([Parameter("side_info", Parameter.Type.STRING, "magic")])[0]
        assert not bad.successful and "must be one of" in bad.reason and v["side_info"] == "learned"
    finally:
        node.destroy_node()


def test_declare_rejects_bad_choice(ctx):
    import rclpy
    from rclpy.parameter import Parameter

    node = rclpy.create_node(
        "left_encoder",
        context=ctx,
        parameter_overrides=[Parameter("qos.input.reliability", Parameter.Type.STRING, "sometimes")],
    )
    try:
        with pytest.raises(ValueError, match="sometimes"):
            params.declare(node, params.params_for("left_encoder"))
    finally:
        node.destroy_node()


def test_values_from_command_line_read_the_params_file_as_rcl_would(tmp_path):
    """The warm standby reads model/device from the node's command line before its node exists: the entries
    that apply to the node in file order, then -p overrides; entries for other nodes are ignored."""
    from dsc_ros.tools import node_set

    pf = tmp_path / "p.yaml"
    pf.write_text(
        yaml.safe_dump(
            {
                "/**": {"ros__parameters": {"device": "cpu"}},
                "/**/left_encoder": {"ros__parameters": {"model": "dsc-paper", "qos": {"input": {"depth": 3}}}},
                "/robot/left_encoder": {"ros__parameters": {"device": "cuda:1"}},
                "/**/decoder": {"ros__parameters": {"model": "elsewhere"}},
            }
        )
    )
    left, right, _ = node_set.node_specs(str(pf), "robot")
    names = ("model", "device", "qos.input.depth")
    assert params.values_from_command_line(left.command(), names) == {
        "model": "dsc-paper",
        "device": "cuda:1",
        "qos.input.depth": 3,
    }
    assert params.values_from_command_line(right.command(), names)["model"] == "dsc-default"  # the default
    assert params.values_from_command_line(right.command(), names)["device"] == "cpu"
    forced = params.values_from_command_line(left.command() + ["-p", "model:=dsc-default"], names)
    assert forced["model"] == "dsc-default"
    # another namespace: the /robot entry no longer applies
    (other, *_) = node_set.node_specs(str(pf), "other")
    assert params.values_from_command_line(other.command(), names)["device"] == "cpu"
    # a missing or broken file is not an error here: the node itself will report it
    (lost, *_) = node_set.node_specs(str(tmp_path / "missing.yaml"), "robot")
    assert params.values_from_command_line(lost.command(), names)["model"] == "dsc-default"
