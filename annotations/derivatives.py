"""Display derivatives of a stored image: the bone-bright 8-bit display PNG and the thumbnail.

Run by the worker (:func:`annotations.tasks.image_derivatives_create`) and, when the worker has not got to it
yet, by the display endpoint (:func:`image_display_ensure`). Queued by :mod:`annotations.services`.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.base import ContentFile

from annotations.core.imaging import ImageDecodeError, decode_image, make_display_png, make_thumbnail_png
from annotations.models import DerivativeStatus, Image


def image_derivatives_create(*, image: Image) -> Image:
    """Decode the stored original and write the display PNG (bone-bright, 8-bit) and a thumbnail."""
    with image.original.open("rb") as handle:
        data = handle.read()
    try:
        decoded = decode_image(data, filename=image.original_name, max_pixels=settings.ENLLASD_MAX_IMAGE_PIXELS)
        display = make_display_png(decoded, max_side=settings.ENLLASD_DISPLAY_MAX_SIDE)
        thumbnail = make_thumbnail_png(decoded, size=settings.ENLLASD_THUMBNAIL_SIZE)
    except ImageDecodeError as exc:
        Image.objects.filter(pk=image.pk).update(
            derivative_status=DerivativeStatus.FAILED, derivative_error=str(exc)
        )
        raise
    old_names = [name for name in (image.display.name, image.thumbnail.name) if name]
    image.display.save(f"{image.uid}-display.png", ContentFile(display), save=False)
    image.thumbnail.save(f"{image.uid}-thumb.png", ContentFile(thumbnail), save=False)
    image.derivative_status = DerivativeStatus.READY
    image.derivative_error = ""
    image.save(update_fields=["display", "thumbnail", "derivative_status", "derivative_error"])
    for name in old_names:
        if name not in (image.display.name, image.thumbnail.name):
            image.display.storage.delete(name)
    return image


def image_display_ensure(*, image: Image) -> Image:
    """Return the image with its derivatives, making them now if the worker has not yet."""
    if image.derivative_status == DerivativeStatus.READY and image.display:
        return image
    return image_derivatives_create(image=image)
