"""The node runtime: what runs inside the three ROS 2 nodes.

``encoder`` (``left_encoder`` / ``right_encoder`` pick the role) and ``decoder`` are the nodes; ``node_base``
is what they share; ``params`` declares their parameters; ``sync`` pairs codes by stamp; ``throttle`` picks the
frames a slow camera codes; ``diagnostics`` publishes their counters; ``process`` is what a node process
agrees on with whoever starts it (ready line, standby, Fast DDS profile).

Rule (test/test_architecture.py): nothing here imports ``dsc_ros.tools``; the tools depend on the nodes,
never the other way round.
"""
