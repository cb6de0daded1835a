"""``python manage.py review_items_backfill``: put every succeeded prediction without a review item in the queue.

Idempotent: predictions that already have an item are left alone, so running it twice adds nothing.
Predictions of images whose outlines are already approved (imported, manual, accepted, corrected) get none.
The ensemble's own flags are not stored on predictions, so backfilled priorities use the alignment
flags only (see :func:`review.services.review_item_create_for_prediction`).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from review.services import review_items_backfill


class Command(BaseCommand):
    help = "Create review items for succeeded predictions that have none (not for images with approved outlines)."

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        created = review_items_backfill()
        self.stdout.write(f"created {created} review item(s)")
