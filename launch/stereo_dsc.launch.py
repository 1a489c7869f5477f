"""ros2 launch dsc_ros stereo_dsc.launch.py [config:=FILE] [namespace:=NS] [bag:=FILE]
                                          [left_topic:=T] [right_topic:=T] [bag_delay:=SEC] [respawn:=true]
                                          [left_codec:=level1|avif|jxl|jpeg] [left_quality:=Q]
                                          [left_input:=dsc_code|compressed_image]

Starts the left encoder, the right encoder and the decoder as described by ``dsc_ros.tools.node_set`` (the one
description the pip-world launcher ``dsc-launch`` also reads; this file has no node list of its own), and,
if ``bag`` is given, the bag player ``dsc-play`` after ``bag_delay`` seconds (the nodes load their model
first; the player also waits for subscribers). A node that dies is started again after
``node_set.RESPAWN_DELAY_S`` unless ``respawn:=false``.
"""

import os
import sys

from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction, TimerAction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from dsc_ros.tools import node_set
from launch import LaunchDescription


def _default_config() -> str:
    try:
        from ament_index_python.packages import get_package_share_directory

        return os.path.join(get_package_share_directory(node_set.PACKAGE), "config", node_set.CONFIG_NAME)
    except Exception:
        return node_set.default_config()


def _nodes(context, *args, **kwargs):
    get = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    quality = get("left_quality").strip()
    specs = node_set.node_specs(
        get("config"),
        get("namespace"),
        get("left_topic"),
        get("right_topic"),
        respawn=get("respawn").strip().lower() in ("true", "1", "yes"),
        left_codec=get("left_codec").strip() or None,
        left_quality=int(quality) if quality else None,
        left_input=get("left_input").strip() or None,
    )
    actions = [
        Node(
            package=s.package,
            executable=s.executable,
            name=s.name,
            namespace=s.namespace or None,
            parameters=([s.params_file] if s.params_file else []) + ([dict(s.parameters)] if s.parameters else []),
            remappings=list(s.remappings),
            output="screen",
            respawn=s.respawn,
            respawn_delay=s.respawn_delay,
        )
        for s in specs
    ]
    bag = get("bag")
    if bag:
        cmd = node_set.player_command(bag, get("left_topic"), get("right_topic"), python=sys.executable)
        actions.append(
            TimerAction(
                period=float(get("bag_delay")), actions=[ExecuteProcess(cmd=cmd, name="dsc_play", output="screen")]
            )
        )
    return actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "config", default_value=_default_config(), description="params file of the three nodes"
            ),
            DeclareLaunchArgument(
                "namespace", default_value=node_set.DEFAULT_NAMESPACE, description="namespace of the nodes"
            ),
            DeclareLaunchArgument("bag", default_value="", description="bag to play into the encoders (optional)"),
            DeclareLaunchArgument("bag_delay", default_value="8.0", description="seconds before the bag player starts"),
            DeclareLaunchArgument(
                "left_topic", default_value=node_set.DEFAULT_LEFT_TOPIC, description="left image topic"
            ),
            DeclareLaunchArgument(
                "right_topic", default_value=node_set.DEFAULT_RIGHT_TOPIC, description="right image topic"
            ),
            DeclareLaunchArgument(
                "left_codec",
                default_value="",
                description="left encoder's codec: level1, avif, jxl, jpeg ('' = the params file's)",
            ),
            DeclareLaunchArgument(
                "left_quality",
                default_value="",
                description="classical left quality 0..100, -1 = the codec's default ('' = the params file's)",
            ),
            DeclareLaunchArgument(
                "left_input",
                default_value="",
                description="decoder's left: dsc_code or "
                "compressed_image (<left_topic>/compressed) ('' = the params file's)",
            ),
            DeclareLaunchArgument("respawn", default_value="true", description="start a node again when it dies"),
            OpaqueFunction(function=_nodes),
        ]
    )
