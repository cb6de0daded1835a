"""The embedded SQLite default takes concurrent writers: ``import_labelme`` while the app's processes write.

Issue 16: ``import_labelme`` run beside the web process and a worker crashed after 2 s with
``sqlite3.OperationalError: database is locked``. A transaction that reads and then writes (every revision
save, every import item) cannot wait for SQLite's lock once another connection has written: its upgrade is
refused at once, whatever the busy timeout. The settings (``enllasd_web/settings/base.py``) now open every
transaction IMMEDIATE (the write lock is taken, or waited for, at BEGIN) in WAL mode.

Real processes on a real SQLite file: a migrated database, three writer processes saving revisions as
fast as they can (``tests/annotations/sqlite_writer.py``) and ``manage.py import_labelme`` of 12 phantoms
at the same time. Redis is pointed at a closed port: the jobs the uploads would queue stay pending rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO_ROOT
from tests.reliability.processes import free_port

WRITERS = 3
PHANTOMS = 12


def _environment(tmp_path: Path) -> dict[str, str]:
    closed_port = free_port()
    keep = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}}
    return {
        **keep,
        "DJANGO_SETTINGS_MODULE": "enllasd_web.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'enllasd.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "MODEL_STORE": str(tmp_path / "model_store"),
        "REDIS_URL": f"redis://127.0.0.1:{closed_port}/0",
        "SAM_PRECOMPUTE_ON_UPLOAD": "0",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
    }


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def test_import_labelme_while_other_processes_write(tmp_path):
    env = _environment(tmp_path)
    migrated = _manage(env, "migrate", "--noinput", "-v0")
    assert migrated.returncode == 0, migrated.stderr
    phantoms = _manage(env, "phantom", "--n", str(PHANTOMS), "--out", str(tmp_path / "phantoms"))
    assert phantoms.returncode == 0, phantoms.stderr

    writers = [subprocess.Popen([sys.executable, "-m", "tests.annotations.sqlite_writer", f"w{i}", "25"],
                                cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(WRITERS)]
    try:
        time.sleep(4)  # the writers are saving (interpreter start and django.setup() take ~2-3 s)
        imported = _manage(env, "import_labelme", str(tmp_path / "phantoms"))
        outcomes = [writer.communicate(timeout=300) for writer in writers]
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.wait()

    assert imported.returncode == 0, imported.stderr[-3000:]
    assert f"{PHANTOMS} images imported" in imported.stdout, imported.stdout
    for (stdout, stderr), writer in zip(outcomes, writers):
        assert writer.returncode == 0, stderr[-3000:]
        report = json.loads(stdout.strip().splitlines()[-1])
        assert report["errors"] == [] and report["saves"] > 10, report

    counted = _manage(env, "shell", "-c", "from annotations.models import Image, AnnotationRevision as R; "
                                          "print(Image.objects.count(), R.objects.filter(source='imported').count())")
    images, imported_revisions = counted.stdout.splitlines()[-1].split()  # the shell prints a banner first
    assert (int(images), int(imported_revisions)) == (PHANTOMS + WRITERS, PHANTOMS), counted.stdout + counted.stderr
