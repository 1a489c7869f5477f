"""The left camera's encoder node (`dsc-left-encoder`, `ros2 run dsc_ros left_encoder`).

Subscribes only left/image_raw and left/camera_info; publishes left/dsc_code (dsc_ros/StereoCode) and
left/dsc_camera_info. All behaviour lives in :mod:`dsc_ros.nodes.encoder`, shared with the other camera.
"""

import sys

from dsc_ros.nodes.encoder import main_for


def main(argv=None) -> int:
    return main_for("left", argv)


if __name__ == "__main__":
    sys.exit(main())
