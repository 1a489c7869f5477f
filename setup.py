"""pip install of the Python side of dsc_ros (dsc_core + the node modules).

In the pip world `scripts/setup.sh` builds msg/ with cmake into the venv first (rosidl generates
`dsc_ros.msg`), then installs this (non-editable, so there is one `dsc_ros` folder in site-packages).
On a ROS 2 install, `colcon build` uses CMakeLists.txt instead and this file is not needed.
"""

from setuptools import find_packages, setup

setup(
    name="dsc_ros",
    version="0.1.0",
    description="Learned distributed stereo image compression (two-level auto-encoder) for ROS 2",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["dsc_core", "dsc_core.*", "dsc_ros", "dsc_ros.*"]),
    package_data={"dsc_core": ["weights/*.pt", "weights/*.md"]},
    install_requires=["torch", "compressai", "numpy", "pillow", "pyyaml", "tqdm", "rosbags"],
    entry_points={
        "console_scripts": [
            "dsc = dsc_core.cli:main",
            "dsc-demo = dsc_ros.tools.demo:main",
            "dsc-launch = dsc_ros.tools.launcher:main",
            "dsc-left-encoder = dsc_ros.nodes.left_encoder:main",
            "dsc-right-encoder = dsc_ros.nodes.right_encoder:main",
            "dsc-decoder = dsc_ros.nodes.decoder:main",
            "dsc-play = dsc_ros.tools.bags.player:main",
            "dsc-record = dsc_ros.tools.bags.recorder:main",
            "dsc-decode-bag = dsc_ros.tools.bags.recorder:decode_main",
            "dsc-kitti2bag = dsc_ros.tools.bags.kitti_to_bag:main",
            "dsc-synth-bag = dsc_ros.tools.bags.synth_bag:main",
        ]
    },
)
