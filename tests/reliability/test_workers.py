"""Workers and broker failures, with real worker processes, real Redis and a real (tiny) trained ensemble.

* ``kill -9`` of a worker in the middle of an inference task: Redis hands the unacknowledged message to the
  next worker once the visibility timeout has passed (short here: ``CELERY_VISIBILITY_TIMEOUT=5``), and the
  Prediction is written once. Nothing in the pipeline is slowed or mocked: a fresh worker spends seconds
  importing torch and loading the ensemble after it marks the prediction ``running``, and that is when it
  is killed.
* Redis unreachable (connection refused) or hung (accepts, never answers): uploads still succeed within
  bounded time, and ``requeue_pending`` publishes their jobs once Redis is back.
* Time limits: every task has one shorter than the visibility timeout, and a prefork worker enforces them.
"""

from __future__ import annotations

import io
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

from annotations.models import DerivativeStatus, Image
from annotations.services import case_create, image_upload, patient_create
from operations.maintenance import requeue_pending_jobs
from inference.models import EnsembleVersion, JobStatus, Prediction, VersionStatus
from tests.conftest import png_bytes
from tests.reliability.processes import (
    REPO_ROOT, app_environment, celery_worker_process, free_port, hung_tcp_server, web_server,
)
from tests.workers import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

VISIBILITY_TIMEOUT_S = 5


@pytest.fixture(scope="module")
def smoke_store(tmp_path_factory) -> tuple[Path, str]:
    """A model store holding one smoke-config ensemble trained on 6 phantoms (about a minute on 2 cores)."""
    from inference.core.phantom import write_phantom_set
    from training.configs import ensemble_config
    from training.core.datasets import load_labelme_folder
    from training.ensemble_training import train_ensemble

    root = tmp_path_factory.mktemp("reliability-models")
    write_phantom_set(root / "phantoms", n=6, seed=7, legs=1)
    samples = load_labelme_folder(root / "phantoms", group_pattern=r"^(.*)$")
    train_ensemble(samples, ensemble_config("smoke"), out_dir=root / "store" / "ensembles" / "smoke", device="cpu")
    return root / "store", "ensembles/smoke"


@pytest.fixture
def active_ensemble(smoke_store, settings) -> EnsembleVersion:
    store, relative = smoke_store
    settings.MODEL_STORE = store
    return EnsembleVersion.objects.create(name="smoke", view="AP", status=VersionStatus.ACTIVE,
                                          config={"path": relative})


def _upload(name: str = "leg.png", seed: int = 0) -> Image:
    case = case_create(patient=patient_create(code=f"W-{name}-{seed}"))
    return image_upload(case=case, data=png_bytes(96, 192, seed=seed), filename=name, uploaded_by=None)


def _status(prediction: Prediction) -> str:
    return Prediction.objects.values_list("status", flat=True).get(pk=prediction.pk)


def test_worker_killed_mid_inference_is_redelivered_and_the_prediction_written_once(active_ensemble, tmp_path):
    with celery_worker_process(queues="inference", log=tmp_path / "first.log") as first:
        image = _upload()  # on commit: the prediction row is created and its task published
        prediction = Prediction.objects.get(image=image, ensemble_version=active_ensemble)
        assert wait_for(lambda: _status(prediction) == JobStatus.RUNNING, timeout=120, interval=0.02)
        first.kill()  # SIGKILL: no shutdown, no ack, no requeue by the worker itself
        first.wait()
        killed_at = time.monotonic()
    first_log = (tmp_path / "first.log").read_text()
    assert _status(prediction) == JobStatus.RUNNING, first_log  # killed mid-task, before the write
    assert "succeeded" not in first_log

    time.sleep(max(0.0, VISIBILITY_TIMEOUT_S + 1 - (time.monotonic() - killed_at)))
    with celery_worker_process(queues="inference", log=tmp_path / "second.log",
                               extra_env={"CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT_S)}):
        assert wait_for(lambda: _status(prediction) in {JobStatus.SUCCEEDED, JobStatus.FAILED}, timeout=240)
        print(f"\nkilled worker's prediction written by the next worker {time.monotonic() - killed_at:.1f} s "
              f"after the kill (visibility timeout {VISIBILITY_TIMEOUT_S} s)")
        written = Prediction.objects.get(pk=prediction.pk)
        assert written.status == JobStatus.SUCCEEDED, written.error

        from inference.tasks import inference_prediction_run

        inference_prediction_run.apply_async(args=[prediction.pk], queue="inference")  # one more delivery
        second_log = tmp_path / "second.log"
        assert wait_for(lambda: second_log.read_text().count("] succeeded in") == 2, timeout=120), \
            second_log.read_text()
    # The redelivered message and the duplicate, each received and run once by the second worker.
    assert second_log.read_text().count("inference_prediction_run[") == 4  # 2 x (received, succeeded)
    again = Prediction.objects.get(pk=prediction.pk)
    assert Prediction.objects.filter(image=image).count() == 1
    assert (again.finished_at, again.document, again.alignment) == (written.finished_at, written.document,
                                                                    written.alignment)


def _timed_upload(base: str, token: str, case_id: int, seed: int) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.post(f"{base}/api/images/upload/", headers={"Authorization": f"Token {token}"},
                          data={"case": str(case_id)}, files={"file": ("leg.png", png_bytes(96, 192, seed=seed))},
                          timeout=60)
    return response, time.monotonic() - started


def _warm_up(base: str, token: str, case_id: int) -> None:
    """A refused upload (nothing published) so that imports are not counted in the timed requests."""
    response = httpx.post(f"{base}/api/images/upload/", headers={"Authorization": f"Token {token}"},
                          data={"case": str(case_id)}, files={"file": ("junk.png", b"junk")}, timeout=60)
    assert response.status_code == 400


def _token(django_user_model) -> str:  # noqa: ANN001
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    user = django_user_model.objects.create_user(username="uploader")
    user.groups.add(Group.objects.get(name="annotator"))
    return Token.objects.create(user=user).key


def test_upload_with_redis_refusing_succeeds_at_once_and_its_jobs_run_when_redis_is_back(
        active_ensemble, django_user_model, tmp_path):
    token = _token(django_user_model)
    case = case_create(patient=patient_create(code="REDIS-DOWN"))
    with web_server(log=tmp_path / "web.log", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0") as base:
        _warm_up(base, token, case.pk)
        timings = [_timed_upload(base, token, case.pk, seed) for seed in range(3)]
    for response, _ in timings:
        assert response.status_code == 201, response.text
    seconds = [round(elapsed, 3) for _, elapsed in timings]
    print(f"\nupload with Redis refusing connections: {seconds} s")
    assert max(seconds) < 3
    images = list(Image.objects.filter(case=case))
    assert {image.derivative_status for image in images} == {DerivativeStatus.PENDING}
    assert set(Prediction.objects.filter(image__in=images).values_list("status", flat=True)) == {JobStatus.QUEUED}

    report = requeue_pending_jobs(queued_for=timedelta(0))  # Redis is back (this process uses the real one)
    assert (report.derivatives, report.predictions, report.failed) == (3, 3, 0)
    # The bulk worker's queues: API uploads are predicted on "interactive" (issue 27, item 4).
    with celery_worker_process(queues=",".join(django_settings.BULK_WORKER_QUEUES), log=tmp_path / "worker.log"):
        assert wait_for(lambda: not Image.objects.filter(case=case).exclude(
            derivative_status=DerivativeStatus.READY).exists(), timeout=120)
        assert wait_for(lambda: not Prediction.objects.filter(image__in=images).exclude(
            status__in=[JobStatus.SUCCEEDED, JobStatus.FAILED]).exists(), timeout=300)
    assert set(Prediction.objects.filter(image__in=images).values_list("status", flat=True)) == {JobStatus.SUCCEEDED}


def test_upload_with_redis_hung_returns_in_bounded_time(django_user_model, tmp_path):
    """The first publish gives up after the broker's socket timeout (5 s) and opens the circuit breaker
    (enllasd_web/queueing.py): the upload's other messages and the next uploads do not wait again."""
    token = _token(django_user_model)
    case = case_create(patient=patient_create(code="REDIS-HUNG"))
    with hung_tcp_server() as port, \
            web_server(log=tmp_path / "web.log", REDIS_URL=f"redis://127.0.0.1:{port}/0") as base:
        _warm_up(base, token, case.pk)
        timings = [_timed_upload(base, token, case.pk, seed=seed) for seed in range(3)]
    seconds = [round(elapsed, 3) for _, elapsed in timings]
    print(f"\nupload with Redis hung (no active ensemble): {seconds} s")
    for response, _ in timings:
        assert response.status_code == 201, response.text
    assert seconds[0] < 15 and max(seconds[1:]) < 3


def test_requeue_command_fails_loudly_while_the_broker_is_down():
    image = _upload("pending.png")
    assert image.derivative_status == DerivativeStatus.PENDING
    result = subprocess.run(
        [sys.executable, "manage.py", "requeue_pending", "--queued-for", "0"], cwd=REPO_ROOT, capture_output=True,
        text=True, timeout=120, env=app_environment(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 job(s) could not be published" in result.stderr


def test_requeue_selects_only_jobs_still_owed():
    from enllasd_web.celery import app

    # Only rows: no worker runs here, so the ensemble needs no trained files.
    EnsembleVersion.objects.create(name="rows only", view="AP", status=VersionStatus.ACTIVE,
                                   config={"path": "ensembles/none"})

    fresh, old, done = _upload("fresh.png", 1), _upload("old.png", 2), _upload("done.png", 3)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Image.objects.filter(pk__in=[old.pk, done.pk]).update(created_at=an_hour_ago)
    Image.objects.filter(pk=done.pk).update(derivative_status=DerivativeStatus.READY)
    Prediction.objects.filter(image=old).update(status=JobStatus.RUNNING, created_at=an_hour_ago)
    Prediction.objects.filter(image=done).update(status=JobStatus.FAILED, created_at=an_hour_ago)
    Prediction.objects.filter(image=fresh).delete()  # e.g. the database refused the insert at upload

    report = requeue_pending_jobs(queued_for=timedelta(minutes=10), running_for=timedelta(minutes=35))
    app.control.purge()
    assert (report.derivatives, report.predictions, report.predictions_created, report.failed) == (1, 1, 1, 0)
    assert Prediction.objects.filter(image=fresh, status=JobStatus.QUEUED).exists()
    assert Prediction.objects.get(image=done).status == JobStatus.FAILED  # failures are not retried blindly
    output = io.StringIO()
    call_command("requeue_pending", "--queued-for", "3000", stdout=output)  # the command, same selection
    app.control.purge()
    assert output.getvalue().startswith("1 derivative job(s) and 1 prediction job(s) re-queued")
    # Celery beat runs the same selection every REQUEUE_PENDING_EVERY_S through a registered task.
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["requeue-pending"]
    assert entry["task"] in _project_tasks() and entry["schedule"] == 300
    summary = app.tasks[entry["task"]].apply().get()
    app.control.purge()
    assert "re-queued" in summary and summary.endswith(", 0 failed to publish")


# ------------------------------------------------------------------------------------------------
# Time limits
# ------------------------------------------------------------------------------------------------
def _project_tasks() -> dict:
    """Every Celery task defined by one of this repository's Django apps (new apps included)."""
    from django.apps import apps

    from enllasd_web.celery import app

    app.loader.import_default_modules()
    prefixes = tuple(f"{config.name}." for config in apps.get_app_configs()
                     if Path(config.path).resolve().is_relative_to(REPO_ROOT))
    return {name: task for name, task in app.tasks.items() if name.startswith(prefixes)}


def test_every_task_has_time_limits_shorter_than_the_visibility_timeout():
    tasks = _project_tasks()
    assert {"annotations.tasks.image_derivatives_create", "inference.tasks.inference_prediction_run",
            "training.tasks.training_run_execute"} <= set(tasks)
    visibility = django_settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    for name, task in tasks.items():
        hard = task.time_limit or django_settings.CELERY_TASK_TIME_LIMIT
        soft = task.soft_time_limit or django_settings.CELERY_TASK_SOFT_TIME_LIMIT
        assert hard and soft and soft < hard, name
        # Otherwise Redis hands a task still running to a second worker.
        assert hard < visibility, (name, hard, visibility)


def test_a_prefork_worker_enforces_soft_and_hard_time_limits(tmp_path):
    from tests.reliability.worker_tasks import NAP_HARD_LIMIT_S, NAP_SOFT_LIMIT_S, nap

    with celery_worker_process(queues="default", pool="prefork", include=("tests.reliability.worker_tasks",),
                               log=tmp_path / "worker.log"):
        nap.apply_async(args=[30], queue="default")
        time.sleep(NAP_HARD_LIMIT_S + 4)
    log = (tmp_path / "worker.log").read_text()
    assert f"Soft time limit ({NAP_SOFT_LIMIT_S}s) exceeded for tests.reliability.nap" in log, log
    assert f"Hard time limit ({NAP_HARD_LIMIT_S}s) exceeded for tests.reliability.nap" in log, log
    assert "succeeded" not in log


def test_production_workers_use_a_pool_that_enforces_time_limits():
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        command = service.get("command") or ""
        command = " ".join(command) if isinstance(command, list) else command
        if "celery" in command and " worker" in command:
            assert "--pool threads" not in command and "--pool solo" not in command, (name, command)
            assert "-P threads" not in command and "-P solo" not in command, (name, command)

