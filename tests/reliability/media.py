"""What is on disk under MEDIA_ROOT, compared with what the database refers to."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings


def media_files() -> set[str]:
    """Every file under MEDIA_ROOT, as storage names (``originals/ab/<sha>.png``)."""
    root = Path(settings.MEDIA_ROOT)
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


def referenced_files() -> set[str]:
    """Every file an Image row refers to (original, display, thumbnail)."""
    from annotations.models import Image

    names: set[str] = set()
    for row in Image.objects.values_list("original", "display", "thumbnail"):
        names.update(name for name in row if name)
    return names


def orphan_files() -> set[str]:
    """Files no row refers to: a failed or rolled-back write left them behind."""
    return media_files() - referenced_files()
