"""The tools around the nodes: how they are started, fed, recorded and measured.

``node_set`` (the one description of the node set, read by ``launcher`` = ``dsc-launch`` and by
``launch/stereo_dsc.launch.py``), ``demo`` (``dsc-demo``), ``collector`` (what a tool hears from the running
nodes), and ``bags/``: the bag player (``dsc-play``), recorder (``dsc-record``, ``dsc-decode-bag``) and
converters (``dsc-kitti2bag``, ``dsc-synth-bag``).
Tools may use the node runtime (``dsc_ros.nodes``); the node runtime never uses a tool.
"""
