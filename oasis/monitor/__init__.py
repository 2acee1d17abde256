"""The monitor loop (live and replay): store -> detectors -> incidents."""

from oasis.monitor.monitor import Monitor
from oasis.monitor.replay import ReplayResult, read_signals, replay

__all__ = ["Monitor", "ReplayResult", "read_signals", "replay"]
