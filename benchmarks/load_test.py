"""Bounded load test of the running application, on loopback only.

What it does, in order:

1. creates a fresh PostgreSQL database and starts a throwaway ``redis-server`` on a free port;
2. migrates, and seeds (``seed`` sub-command, run with Django) one annotator per virtual user, each with
   a phantom radiograph of its own (display derivative made), a first revision and a review item;
3. serves the app with gunicorn (``enllasd_web.settings.production``, HTTP allowed on loopback, DEBUG off);
4. runs ``--users`` virtual users (asyncio + aiohttp) for ``--duration`` seconds; each repeats: review-queue list
   (``/api/review/items/``, or ``/api/images/`` where there is no review queue), display image fetch,
   revision save on *its own* image with ``base_revision`` = its last head, then a pause of 0.5–1.5 ×
   ``--think`` seconds (users start spread over one ``--think``, so that they do not move in lock step);
5. prints count, p50/p95/p99 (ms) and errors per endpoint (409 counted apart: a stale save is expected
   behaviour, never an error), then drops the database and stops Redis.

Usage (from the repository root)::

    .venv/bin/python benchmarks/load_test.py --users 50 --duration 60 --workers 4 --threads 4 --think 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DEFAULT_PG_ADMIN_URL = "postgres://postgres:postgres@127.0.0.1:5432/postgres"


# ------------------------------------------------------------------------------------------------
# Infrastructure: database, Redis, gunicorn
# ------------------------------------------------------------------------------------------------
@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards; yields its URL."""
    import psycopg

    name = f"enllasd_load_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def throwaway_redis() -> Iterator[str]:
    """A private redis-server without persistence, stopped afterwards; yields its URL."""
    from tests.reliability.processes import free_port

    port = free_port()
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


def production_environment(*, database_url: str, redis_url: str, media_root: Path, conn_max_age: int) -> dict[str, str]:
    """``settings.production`` as docker-compose runs it, except plain HTTP on loopback."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "enllasd_web.settings.production",
        "SECRET_KEY": "load-test-" + os.urandom(24).hex(),
        "ENLLASD_DEV": "0",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": database_url,
        "DB_CONN_MAX_AGE": str(conn_max_age),
        "REDIS_URL": redis_url,
        "MEDIA_ROOT": str(media_root / "media"),
        "MODEL_STORE": str(media_root / "model_store"),
        "STATIC_ROOT": str(media_root / "static"),
        "LOG_LEVEL": "WARNING",
    }


def _run(command: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


# ------------------------------------------------------------------------------------------------
# Seeding (runs inside Django, in a subprocess)
# ------------------------------------------------------------------------------------------------
def seed(users: int) -> dict[str, Any]:
    """One annotator, token, patient, case, phantom image (derivatives made), revision and review item each."""
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from rest_framework.authtoken.models import Token

    from annotations.derivatives import image_derivatives_create
    from annotations.services import annotation_revision_submit, case_create, image_upload, patient_create
    from inference.core.phantom import write_phantom_set

    folder = Path(tempfile.mkdtemp(prefix="enllasd-load-phantoms-"))
    write_phantom_set(folder, n=min(users, 8), seed=11, legs=1)
    phantoms = sorted(folder.glob("*.png"))
    annotator = Group.objects.get(name="annotator")
    seeded = []
    for index in range(users):
        user = User.objects.create_user(username=f"load-{index}", password=os.urandom(16).hex())
        user.groups.add(annotator)
        phantom = phantoms[index % len(phantoms)]
        case = case_create(patient=patient_create(code=f"LOAD-{index:03d}"))
        image = image_upload(case=case, data=phantom.read_bytes(), filename=phantom.name, uploaded_by=user)
        image_derivatives_create(image=image)
        document = json.loads(phantom.with_suffix(".json").read_text())
        revision = annotation_revision_submit(image=image, document=document, base_revision_id=None,
                                              source="manual", author=user)
        seeded.append({"token": Token.objects.create(user=user).key, "image": image.pk, "head": revision.pk,
                       "document": revision.document})
    shutil.rmtree(folder)
    return {"users": seeded, "review_items": _seed_review_items([u["image"] for u in seeded])}


def _seed_review_items(image_ids: list[int]) -> int:
    """A succeeded prediction and its review item per image, so that the review queue has rows to list."""
    from annotations.models import AnnotationRevision, Image
    from review.services import review_item_create_for_prediction
    from inference.models import EnsembleVersion, JobStatus, Prediction

    ensemble = EnsembleVersion.objects.create(name="load-test", view="AP", config={"path": "ensembles/none"})
    for image in Image.objects.filter(pk__in=image_ids):
        head = AnnotationRevision.objects.get(pk=image.head_revision_id)
        prediction = Prediction.objects.create(
            image=image, ensemble_version=ensemble, status=JobStatus.SUCCEEDED, document=head.document,
            alignment={"legs": []}, uncertainty={"joint_sd_px": 1.0, "hka_sd_deg": 0.5, "member_disagreement": 0.1})
        review_item_create_for_prediction(prediction=prediction)
    return len(image_ids)


# ------------------------------------------------------------------------------------------------
# Load
# ------------------------------------------------------------------------------------------------
@dataclass
class Results:
    """Latencies (ms) and status counts per endpoint."""

    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    transport_errors: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))

    def record(self, endpoint: str, status: int, started: float) -> None:
        self.latencies_ms[endpoint].append((time.perf_counter() - started) * 1000)
        self.statuses[endpoint][status] += 1


async def _virtual_user(session: Any, base: str, user: dict[str, Any], *, list_path: str, deadline: float,
                        think_s: float, results: Results) -> None:
    headers = {"Authorization": f"Token {user['token']}"}
    image = user["image"]
    head = user["head"]
    document = user["document"]
    saves = 0
    pace = random.Random(user["image"])
    await asyncio.sleep(pace.uniform(0, think_s))  # users arrive spread over one think time, not at once
    while time.monotonic() < deadline:
        for endpoint, method, path, body in (
            ("review-queue list", "GET", list_path, None),
            ("image display", "GET", f"/api/images/{image}/display/", None),
            ("revision save", "POST", f"/api/images/{image}/revisions/create/", "save"),
        ):
            payload = None
            if body == "save":
                saves += 1
                payload = {"base_revision": head, "document": document, "message": f"load save {saves}"}
            started = time.perf_counter()
            try:
                async with session.request(method, base + path, headers=headers, json=payload) as response:
                    content = await response.read()
                    status = response.status
            except Exception as exc:  # noqa: BLE001 - a refused or dropped connection is an error to count
                results.transport_errors[endpoint][type(exc).__name__] += 1
                continue
            results.record(endpoint, status, started)
            if body == "save" and status == 201:
                head = json.loads(content)["id"]
            elif body == "save" and status == 409:
                head = json.loads(content)["extra"]["head_revision"]["id"]
        # Uniform in [0.5, 1.5] x think (Locust's ``between``): with one fixed pause the users stay in
        # lock step and arrive as bursts of 50 requests, which no real group of users does.
        await asyncio.sleep(pace.uniform(0.5 * think_s, 1.5 * think_s))


async def drive(base: str, users: list[dict[str, Any]], *, duration_s: float, think_s: float) -> Results:
    """Run the virtual users; aiohttp, because httpx cost ~3 ms of CPU a request on the shared cores."""
    import aiohttp

    results = Results()
    connector = aiohttp.TCPConnector(limit=len(users))
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        probe_headers = {"Authorization": f"Token {users[0]['token']}"}
        async with session.get(f"{base}/api/review/items/", headers=probe_headers) as probe:
            list_path = "/api/review/items/" if probe.status == 200 else "/api/images/"
        deadline = time.monotonic() + duration_s
        await asyncio.gather(*(_virtual_user(session, base, user, list_path=list_path, deadline=deadline,
                                             think_s=think_s, results=results) for user in users))
    return results


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def report(results: Results, *, duration_s: float) -> str:
    lines = [f"{'endpoint':<20}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
             f"{'errors':>8}{'409':>6}  statuses"]
    for endpoint, values in results.latencies_ms.items():
        statuses = dict(sorted(results.statuses[endpoint].items()))
        errors = sum(count for status, count in statuses.items() if status >= 400 and status != 409)
        transport = dict(results.transport_errors[endpoint])
        errors += sum(transport.values())
        lines.append(f"{endpoint:<20}{len(values):>9}{len(values) / duration_s:>8.1f}"
                     f"{_percentile(values, 0.50):>9.1f}{_percentile(values, 0.95):>9.1f}"
                     f"{_percentile(values, 0.99):>9.1f}{errors:>8}{statuses.get(409, 0):>6}  {statuses}"
                     + (f" {transport}" if transport else ""))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", choices=["run", "seed"], default="run")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="Seconds of load (at most 60 on shared CI).")
    parser.add_argument("--think", type=float, default=1.0, help="Mean seconds each user waits after its three requests (uniform 0.5-1.5x).")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (docker-compose: 4).")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (docker-compose: 4).")
    parser.add_argument("--conn-max-age", type=int, default=60, help="DB_CONN_MAX_AGE (the settings' default: 60).")
    parser.add_argument("--pg-admin-url", help="A database URL of a role that may create databases.",
                        default=os.environ.get("LOAD_TEST_PG_URL", DEFAULT_PG_ADMIN_URL))
    args = parser.parse_args()
    if args.command == "seed":
        print(json.dumps(seed(args.users)))
        return

    workdir = Path(tempfile.mkdtemp(prefix="enllasd-load-"))
    try:
        with throwaway_redis() as redis_url, fresh_database(args.pg_admin_url) as database_url:
            env = production_environment(database_url=database_url, redis_url=redis_url, media_root=workdir,
                                         conn_max_age=args.conn_max_age)
            _run([PYTHON, "manage.py", "migrate", "--noinput"], env)
            seeded = json.loads(_run([PYTHON, str(Path(__file__).resolve()), "seed", "--users", str(args.users)], env))
            load_before = os.getloadavg()[0]
            from tests.reliability.processes import gunicorn_server

            with gunicorn_server(env, workers=args.workers, threads=args.threads, log=workdir / "gunicorn.log",
                                 startup_s=120) as base:
                results = asyncio.run(drive(base, seeded["users"], duration_s=args.duration, think_s=args.think))
            print(f"users={args.users} duration={args.duration:g}s think={args.think:g}s workers={args.workers} "
                  f"threads={args.threads} conn_max_age={args.conn_max_age} review_items={seeded['review_items']} "
                  f"cpus={os.cpu_count()} load average before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f}")
            print(report(results, duration_s=args.duration))
            server_errors = (workdir / "gunicorn.log").read_text().count("Internal Server Error")
            print(f"server log: {server_errors} internal server error(s)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    main()
