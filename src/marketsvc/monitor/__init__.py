"""In-process monitoring: 1-minute samples of the service's own counters (for the dashboard's
charts) and alert rules evaluated over them, with a webhook notifier."""

from marketsvc.monitor.service import Monitor, open_monitor

__all__ = ["Monitor", "open_monitor"]
