"""Real processes for the worker tests: a Celery worker with a chosen pool, gunicorn, and a hung "Redis".

:func:`tests.workers.celery_worker` runs the solo pool only; the time-limit test needs the prefork pool and
an extra task module, so this module starts workers itself, with the same environment.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from django.conf import settings

REPO_ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """The URL of the database this test session uses (the test database, not the configured one)."""
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def app_environment(**overrides: str) -> dict[str, str]:
    """The environment a subprocess needs to see this test session's database, media and broker."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "enllasd_web.settings.test",
        "DATABASE_URL": database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "MODEL_STORE": str(settings.MODEL_STORE),
        "REDIS_URL": settings.CELERY_BROKER_URL,
        **overrides,
    }


@contextmanager
def celery_worker_process(*, queues: str, log: Path, pool: str = "solo", include: tuple[str, ...] = (),
                          extra_env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """Run ``celery worker`` (``pool``: solo, prefork, threads) until the block ends; wait for its ping.

    Its output goes to ``log`` (a file, so that a chatty worker can never block on a full pipe).
    """
    from enllasd_web.celery import app

    hostname = f"rel-{os.getpid()}-{time.monotonic_ns()}@localhost"
    command = [sys.executable, "-m", "celery", "-A", "enllasd_web", "worker", "-Q", queues, "--pool", pool,
               "--concurrency", "1", "--hostname", hostname, "--loglevel", "INFO", "--without-gossip",
               "--without-mingle", "--without-heartbeat"]
    for module in include:
        command += ["--include", module]
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=app_environment(**(extra_env or {})),
                                   stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[hostname], timeout=0.5):
            if process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{log.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError("worker did not answer a ping within 60 s")
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def gunicorn_server(env: dict[str, str], *, log: Path, workers: int = 1, threads: int = 2,
                    startup_s: float = 60) -> Iterator[str]:
    """Serve the project with gunicorn on a free loopback port (output to ``log``); yield its base URL.

    Also the server of ``benchmarks/load_test.py``.
    """
    port = free_port()
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "enllasd_web.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", str(workers), "--threads", str(threads), "--timeout", "120"],
            cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_s
        while True:
            try:
                if httpx.get(f"{base}/accounts/login/", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not come up:\n{log.read_text()[-4000:]}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=60)


@contextmanager
def web_server(*, log: Path, **env: str) -> Iterator[str]:
    """Serve the project with gunicorn (one worker) against this test session's database and broker."""
    with gunicorn_server(app_environment(**env), log=log) as base:
        yield base


@contextmanager
def hung_tcp_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers: Redis frozen, or a half-open network path."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(100)
    server.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept_forever() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept_forever, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        server.close()
