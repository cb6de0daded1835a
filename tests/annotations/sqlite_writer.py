"""A process that keeps writing to the database as the web process and a worker do (for the SQLite tests).

``python -m tests.annotations.sqlite_writer NAME SECONDS`` saves revision after revision on an image of its
own (each save reads the head, then writes: the pattern SQLite refused with "database is locked"), then
prints ``{"saves": n, "errors": [...]}`` as JSON.
"""

from __future__ import annotations

import json
import sys
import time

import django


def main(name: str, seconds: float) -> None:
    django.setup()
    from annotations.services import annotation_revision_submit, case_create, image_upload, patient_create
    from tests.conftest import labelme_document, png_bytes

    patient = patient_create(code=f"writer-{name}")
    image = image_upload(case=case_create(patient=patient, view="AP"), data=png_bytes(seed=len(name)),
                         filename=f"{name}.png", uploaded_by=None)
    saves, errors, head = 0, [], None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            head = annotation_revision_submit(image=image, document=labelme_document(shift=saves % 7),
                                              base_revision_id=head, source="manual", author=None).pk
            saves += 1
        except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on any
            errors.append(f"{type(exc).__name__}: {exc}")
            if len(errors) > 20:
                break
    print(json.dumps({"saves": saves, "errors": errors}))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
