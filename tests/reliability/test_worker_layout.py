"""The worker layout keeps SAM interactive, tells a busy SAM worker from a missing one, and keeps installs apart.

* Interactive decodes are the only messages on the ``sam`` queue: embeddings of uploads go to ``sam_precompute``
  and pre-labelling jobs to ``sam_batch``, which the bulk worker consumes, so a 242-image import never stands
  between a click and its answer. ``scripts/run`` and ``docker-compose.yml`` give ``sam`` a worker of its own.
  The bulk worker takes its queues in order (pre-labelling jobs before embeddings of imports), so a pre-labelling
  job does not wait for the import's embeddings.
* Workers write a heartbeat naming their queues (``enllasd_web/worker_status.py``); when a decode times out
  the API says whether the sam worker is busy (and how many requests wait) or absent.
* Every Redis key carries a per-install prefix, so two installs on one host sharing Redis database 0 never
  take each other's tasks.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from kombu import Connection

from annotations.models import Image
from annotations.services import image_upload
from inference.sam_services import prelabel_job_start
from enllasd_web.worker_status import queue_state, worker_heartbeat_clear
from tests.conftest import REPO_ROOT, png_bytes
from tests.reliability.processes import celery_worker_process
from tests.workers import wait_for

SCRIPTS_RUN = REPO_ROOT / "scripts" / "run"


def _run_script_workers() -> list[str]:
    """The celery worker command lines of scripts/run, with the shared ``celery`` array expanded."""
    text = SCRIPTS_RUN.read_text().replace("\\\n", " ")
    base = re.search(r"^celery=\((.*)\)$", text, re.MULTILINE).group(1)
    return [line.replace('"${celery[@]}"', base) for line in text.splitlines() if '"${celery[@]}"' in line]


def _queues(command: str) -> list[str]:
    return command.split(" -Q ")[1].split()[0].split(",")


def test_scripts_run_gives_interactive_sam_a_worker_of_its_own():
    workers = _run_script_workers()
    consumed = [queue for command in workers for queue in _queues(command)]
    assert sorted(consumed) == sorted(django_settings.CELERY_TASK_QUEUES_NAMES)  # each queue, exactly once
    (sam,) = [command for command in workers if _queues(command) == ["sam"]]
    assert "--concurrency 1" in sam and "--prefetch-multiplier 1" in sam and not sam.startswith("nice")
    for command in workers:  # bulk work yields the CPU to the interactive worker
        if command is not sam:
            assert command.startswith("nice -n "), command
    # The bulk worker takes its queues in this order (queue_order_strategy "priority"): uploads first.
    (bulk,) = [command for command in workers if "--beat" in command]
    assert _queues(bulk) == list(django_settings.BULK_WORKER_QUEUES) and _queues(bulk)[0] == "interactive"
    assert django_settings.CELERY_BROKER_TRANSPORT_OPTIONS["queue_order_strategy"] == "priority"
    (training,) = [command for command in workers if _queues(command) == ["training"]]
    assert "--beat" not in training
    # OpenMP threads that spin while they wait made a decode 10x slower on busy cores (docs/reliability.md).
    assert "\nexport OMP_WAIT_POLICY=PASSIVE\n" in SCRIPTS_RUN.read_text()


@pytest.mark.django_db
def test_upload_queues_the_sam_embedding_on_the_batch_queue_not_the_interactive_one(
        case, settings, django_capture_on_commit_callbacks):
    from enllasd_web.celery import app

    settings.SAM_PRECOMPUTE_ON_UPLOAD = True
    app.control.purge()
    with django_capture_on_commit_callbacks(execute=True):
        image_upload(case=case, data=png_bytes(seed=3), filename="a.png", uploaded_by=None)
    assert queue_state(queue="sam").waiting == 0
    assert queue_state(queue="sam_precompute").waiting == 1
    assert queue_state(queue="sam_batch").waiting == 0
    with django_capture_on_commit_callbacks(execute=True):
        prelabel_job_start(image_ids=[Image.objects.get().pk], boxes=None)
    assert queue_state(queue="sam_batch").waiting == 1 and queue_state(queue="sam").waiting == 0
    # A person's upload (issue 26, item 4): its embedding right after the uploads' predictions, before imports.
    with django_capture_on_commit_callbacks(execute=True):
        image_upload(case=case, data=png_bytes(seed=4), filename="b.png", uploaded_by=None, interactive=True)
    assert queue_state(queue="interactive_sam").waiting == 1 and queue_state(queue="sam_precompute").waiting == 1
    app.control.purge()


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_prelabel_job_does_not_wait_for_the_embeddings_an_import_queued(tmp_path):
    from enllasd_web.celery import app
    from tests.reliability.worker_tasks import nap

    app.control.purge()
    backlog = [nap.apply_async(args=[0.3], queue="sam_precompute").id for _ in range(8)]
    job = nap.apply_async(args=[0.3], queue="sam_batch").id  # queued last, as a person's job after an import
    log = tmp_path / "worker.log"
    # The bulk worker's order of these two queues: it takes its queues in order (queue_order_strategy "priority").
    queues = ",".join(q for q in django_settings.BULK_WORKER_QUEUES if q in ("sam_batch", "sam_precompute"))
    assert queues == "sam_batch,sam_precompute"
    with celery_worker_process(queues=queues, include=("tests.reliability.worker_tasks",), log=log):
        assert wait_for(lambda: log.read_text().count("succeeded") == 9, timeout=120), log.read_text()[-3000:]
    finished = re.findall(r"tests\.reliability\.nap\[([0-9a-f-]+)\] succeeded", log.read_text())
    assert sorted(finished) == sorted([*backlog, job])
    assert finished.index(job) <= 1, finished  # taken before the backlog, not after it


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_busy_sam_worker_is_told_from_an_absent_one(annotator_client, image, settings, tmp_path):
    from tests.reliability.worker_tasks import nap

    settings.SAM_DECODE_TIMEOUT_S = 2
    url = reverse("inference:sam-decode", kwargs={"image_id": image.pk})
    with celery_worker_process(queues="sam", include=("tests.reliability.worker_tasks",),
                               log=tmp_path / "worker.log") as worker:
        state = queue_state(queue="sam")
        assert len(state.workers) == 1 and state.workers[0].startswith("rel-"), state
        nap.apply_async(args=[8], queue="sam")  # the solo worker is busy for 8 s
        time.sleep(1)
        busy = annotator_client.post(url, {"box": [5, 5, 40, 100]}, format="json")
        assert busy.status_code == 503
        assert busy.json()["extra"]["code"] == "sam_worker_busy", busy.json()
        assert busy.json()["message"].startswith("The SAM worker is running but busy: it did not answer within 2 s")
        assert worker.poll() is None
    # The worker removed its heartbeat when it stopped: the API says there is none at once.
    assert queue_state(queue="sam").workers == ()
    absent = annotator_client.post(url, {"box": [5, 5, 40, 100]}, format="json")
    assert absent.status_code == 503 and absent.json()["extra"]["code"] == "sam_worker_absent"


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_sam_worker_loads_the_model_when_it_starts_not_on_the_first_click(tmp_path):
    log = tmp_path / "worker.log"
    with celery_worker_process(queues="sam", log=log, extra_env={"SAM_WARMUP_ON_START": "1"}):
        assert wait_for(lambda: "'loaded'" in log.read_text(), timeout=600, interval=1.0), log.read_text()[-3000:]
    assert "inference.tasks.sam_warmup" in log.read_text()


@pytest.mark.django_db
def test_a_heartbeat_expires_when_a_worker_dies_without_shutting_down(settings):
    from enllasd_web.worker_status import worker_heartbeat_write

    settings.WORKER_HEARTBEAT_S = 1
    worker_heartbeat_write(hostname="sam@killed", queues=["sam"])
    assert "sam@killed" in queue_state(queue="sam").workers
    assert wait_for(lambda: "sam@killed" not in queue_state(queue="sam").workers, timeout=6)
    worker_heartbeat_clear(hostname="sam@killed")


def _settings_value(expression: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in {"ENLLASD_BROKER_PREFIX", "DJANGO_SETTINGS_MODULE"}}
    result = subprocess.run([sys.executable, "-c", f"import enllasd_web.settings.local as s; print({expression})"],
                            cwd=REPO_ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_default_install_prefixes_its_redis_keys_with_its_folder():
    expected = f"enllasd-{hashlib.sha256(str(REPO_ROOT).encode()).hexdigest()[:12]}:"
    options = "s.CELERY_BROKER_TRANSPORT_OPTIONS['global_keyprefix'], " \
              "s.CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS['global_keyprefix']"
    assert _settings_value(options).split() == [expected, expected]
    assert _settings_value("s.BROKER_PREFIX", ENLLASD_BROKER_PREFIX="clinic-a:") == "clinic-a:"


def test_two_installs_sharing_a_redis_database_do_not_see_each_others_messages():
    url = django_settings.CELERY_BROKER_URL
    queue = f"layout-{os.getpid()}"
    with Connection(url, transport_options={"global_keyprefix": "install-a:"}) as install_a, \
            Connection(url, transport_options={"global_keyprefix": "install-b:"}) as install_b:
        sent = install_a.SimpleQueue(queue)
        other = install_b.SimpleQueue(queue)
        try:
            sent.put({"task": "of install a"})
            with pytest.raises(other.Empty):
                other.get(timeout=0.5)
            message = sent.get(timeout=2)
            assert message.payload == {"task": "of install a"}
            message.ack()
        finally:
            sent.clear()
            other.clear()
            sent.close()
            other.close()
