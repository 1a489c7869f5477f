"""The right camera's encoder node (`dsc-right-encoder`, `ros2 run dsc_ros right_encoder`).

Subscribes only right/image_raw and right/camera_info; publishes right/dsc_code (dsc_ros/StereoCode) and
right/dsc_camera_info. All behaviour lives in :mod:`dsc_ros.nodes.encoder`, shared with the other camera.
"""

import sys

from dsc_ros.nodes.encoder import main_for


def main(argv=None) -> int:
    return main_for("right", argv)


if __name__ == "__main__":
    sys.exit(main())
