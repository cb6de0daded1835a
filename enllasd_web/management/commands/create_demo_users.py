"""``python manage.py create_demo_users``: one user per role with a known password (development only)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

DEMO_USERS = [("admin", "admin"), ("reviewer", "reviewer"), ("annotator", "annotator")]
DEMO_PASSWORD = "enllasd-demo"


class Command(BaseCommand):
    help = f"Create demo users admin/reviewer/annotator with password {DEMO_PASSWORD!r} (ENLLASD_DEV only)."

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        if not settings.DEV_MODE:
            raise CommandError("Demo users are only for local development (ENLLASD_DEV=1).")
        User = get_user_model()
        for username, role in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(DEMO_PASSWORD)
            user.is_staff = role == "admin"
            user.is_superuser = role == "admin"
            user.save()
            user.groups.add(Group.objects.get(name=role))
        self.stdout.write(f"Demo users: {', '.join(u for u, _ in DEMO_USERS)} (password {DEMO_PASSWORD})")
