"""rclpy start-up for the command-line tools (``dsc-play``, ``dsc-record``): Ctrl-C and SIGTERM as a plain
``KeyboardInterrupt``.

Why not rclpy's own signal handler: on SIGINT it shuts the global context down *inside the handler*, and the
``KeyboardInterrupt`` Python raises next races that shutdown. Depending on where the main thread is at that
moment, the tool then fails with ``RCLError: publisher's context is invalid`` (a ``publish`` in flight) or
``ExternalShutdownException`` (a ``spin_once``) instead of ending cleanly with its summary and its exit code
(seen in CI, 2026-12-05: ``test_loop_sensor_data_qos_and_clean_ctrl_c``,
``test_record_code_topics_and_decode_offline``).
The nodes made the same choice for the same reason (``dsc_ros/nodes/node_base.py``). Here the context stays
valid until the tool's ``finally`` block has closed its bag and printed its table, then it shuts down.
"""

from __future__ import annotations

import signal


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def init_rclpy(argv: list) -> None:
    """``rclpy.init(args=argv)`` without rclpy's signal handlers; SIGTERM (a launcher stopping the tool) then
    ends it the way Ctrl-C does. Call from the main thread, before the first node."""
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    # Set, not assumed: a process started in the background by a shell (`cmd &`) inherits SIGINT ignored, and
    # the launcher's SIGINT must still stop it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)
