"""dsc_ros: the ROS 2 shell around dsc_core: ``wire`` (the ROS message layout), ``nodes`` (the node
runtime) and ``tools`` (launchers, demo, bag tools).

This file is only used from the working tree: in an install, rosidl owns ``dsc_ros/__init__.py``. The
line below lets ``dsc_ros.msg`` (generated and installed into site-packages by rosidl/CMake) be found
even when the checkout's ``dsc_ros`` comes first on ``sys.path``. Keep nothing else here.
"""

__path__ = __import__("pkgutil").extend_path(__path__, __name__)
