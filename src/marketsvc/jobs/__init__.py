"""Scheduled jobs: APScheduler 3 (in-memory job store) guarded by a Redis lease per tick."""

from marketsvc.jobs.scheduler import JobScheduler, JobSpec

__all__ = ["JobScheduler", "JobSpec"]
