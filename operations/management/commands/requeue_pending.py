"""``python manage.py requeue_pending``: publish again the background jobs whose message was lost."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from operations.maintenance import DEFAULT_QUEUED_FOR, DEFAULT_RUNNING_FOR, requeue_pending_jobs


class Command(BaseCommand):
    help = ("Re-queue display derivatives and predictions that are still owed (broker was down at upload, or a "
            "worker died). Safe to run as often as you like; exits non-zero while the broker refuses messages.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--queued-for", type=float, default=DEFAULT_QUEUED_FOR.total_seconds(),
                            help="Seconds a job may wait in 'pending'/'queued' before it is published again.")
        parser.add_argument("--running-for", type=float, default=DEFAULT_RUNNING_FOR.total_seconds(),
                            help="Seconds after which a 'running' prediction is taken for dead.")

    def handle(self, *args: Any, **options: Any) -> None:
        report = requeue_pending_jobs(queued_for=timedelta(seconds=options["queued_for"]),
                                      running_for=timedelta(seconds=options["running_for"]))
        self.stdout.write(report.summary())
        if report.failed:
            raise CommandError(f"{report.failed} job(s) could not be published; is the broker up?")
