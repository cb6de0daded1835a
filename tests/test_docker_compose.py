"""docker-compose.yml is valid against the Compose specification and runs every queue.

There is no Docker engine on these machines, so the file is checked against the Compose spec's JSON
schema (shipped inside the docker-compose 1.29.2 wheel that scripts/setup downloads) plus our own rules.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import jsonschema
import pytest
import yaml
from django.conf import settings as django_settings

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def compose_schema() -> dict:
    wheels = sorted((REPO_ROOT / "var" / "cache" / "wheels").glob("docker_compose-1.29.2-*.whl"))
    if not wheels:
        pytest.skip("docker-compose wheel with the Compose schema not downloaded (run scripts/setup)")
    with zipfile.ZipFile(wheels[0]) as archive:
        return json.loads(archive.read("compose/config/compose_spec.json"))


def test_compose_file_matches_the_compose_specification(compose, compose_schema):
    jsonschema.Draft7Validator(compose_schema).validate(compose)


def test_every_queue_has_a_worker_and_gpu_queues_reserve_a_gpu(compose):
    services = compose["services"]
    assert {"web", "redis", "postgres"} <= set(services)
    queues = {}
    for name, service in services.items():
        command = service.get("command", "")
        if isinstance(command, str) and "celery" in command and " -Q " in command:
            for queue in command.split(" -Q ")[1].split()[0].split(","):
                queues[queue] = name
    assert set(queues) == set(django_settings.CELERY_TASK_QUEUES_NAMES)
    # Interactive SAM decodes have a worker of their own, which takes one message at a time.
    sam_command = services[queues["sam"]]["command"]
    assert " -Q sam " in sam_command and "--prefetch-multiplier 1" in sam_command
    for queue in ("inference", "training"):
        devices = services[queues[queue]]["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["capabilities"] == ["gpu"]
    for name in (*queues.values(), "web"):
        environment = services[name]["environment"]
        assert environment["DJANGO_SETTINGS_MODULE"] == "enllasd_web.settings.production"
        assert environment["OMP_WAIT_POLICY"] == "PASSIVE"
        assert environment["REDIS_URL"].startswith("redis://redis:")
        assert environment["DATABASE_URL"].startswith("postgres://")
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
