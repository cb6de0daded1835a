"""``manage.py clinical_demo [--code DEMO-SD-007] [--user NAME]``: seed the synthetic follow-up patient."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotations.models import Patient
from clinical.demo import follow_up_demo_create


class Command(BaseCommand):
    help = "Create a phantom patient with four follow-up visits (increasing varus) for the clinical pages."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--code", default="DEMO-SD-007")
        parser.add_argument("--user", default=None, help="Username recorded as annotator of the visits.")

    def handle(self, *args: Any, code: str, user: str | None, **options: Any) -> None:
        if Patient.objects.filter(code=code).exists():
            raise CommandError(f"Patient {code} already exists.")
        author = get_user_model().objects.filter(username=user).first() if user else None
        if user and author is None:
            raise CommandError(f"No user {user!r}.")
        patient = follow_up_demo_create(code=code, user=author)
        self.stdout.write(f"Created {patient.code}: /patients/{patient.pk}/timeline/")
