"""Small things a new user hit in the first hour (issue 16, item 11).

* a test run never rewrites the tracked pictures in docs/screenshots (they are refreshed on purpose);
* ``report.pdf`` answers a script's API token;
* ``GET /api/ensembles/`` lists the ensembles;
* ``/favicon.ico`` exists (no 404 on every page);
* README and docs link only to files of the repository (no ``../shared/...``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from audit.models import AuditEvent
from inference.models import EnsembleVersion, VersionStatus
from tests.conftest import REPO_ROOT, api_client_for

MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_tests_keep_their_screenshots_out_of_docs():
    code = "from tests.e2e.conftest import SCREENSHOT_DIR; print(SCREENSHOT_DIR.resolve())"
    env = {k: v for k, v in os.environ.items() if k != "ENLLASD_SCREENSHOTS"}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    folder = result.stdout.strip()
    assert folder == str(REPO_ROOT / "var" / "screenshots")
    # Nothing else under tests/ writes into docs/ either.
    for path in (REPO_ROOT / "tests").rglob("*.py"):
        if path.resolve() != Path(__file__).resolve():
            assert '"docs" / "screenshots"' not in path.read_text(), path


@pytest.mark.django_db
def test_report_pdf_answers_an_api_token(client, annotator, case):
    token = Token.objects.create(user=annotator)
    url = f"/cases/{case.pk}/report.pdf"
    # The case has no measured image yet: 404 from the view itself, so the token got the request in.
    assert client.get(url, HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 404
    assert AuditEvent.objects.filter(username=annotator.username, object_type="case").exists()
    wrong = client.get(url, HTTP_AUTHORIZATION="Token not-a-token")
    assert wrong.status_code == 401 and wrong.json()["message"] == "Invalid token."
    assert client.get(url).status_code == 302  # no credentials: the login page, as before


@pytest.mark.django_db
def test_ensembles_are_listed(annotator):
    old = EnsembleVersion.objects.create(name="first", view="AP", status=VersionStatus.RETIRED)
    active = EnsembleVersion.objects.create(name="second", view="AP", status=VersionStatus.ACTIVE)
    client = api_client_for(annotator)
    body = client.get("/api/ensembles/").json()
    assert [row["id"] for row in body["results"]] == [active.pk, old.pk]
    assert body["results"][0] == {"id": active.pk, "name": "second", "view": "AP", "status": "active",
                                  "created_at": body["results"][0]["created_at"], "training_run": None,
                                  "members": 0, "metrics": {}}
    assert [row["id"] for row in client.get("/api/ensembles/?status=active").json()["results"]] == [active.pk]


@pytest.mark.django_db
def test_favicon_is_served_without_touching_a_view(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"\x00\x00\x01\x00")  # an ICO file
    assert not AuditEvent.objects.exists()


def test_readme_and_docs_link_only_inside_the_repository():
    for path in [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        if path.name == "README.md":  # what a new user reads first names nothing outside the repository
            assert "../shared" not in text
        for target in MARKDOWN_LINK.findall(text):
            if re.match(r"^[a-z]+:", target):
                continue
            resolved = (path.parent / target).resolve()
            assert resolved.is_relative_to(REPO_ROOT), (path.name, target)  # nothing outside the checkout
            if path.name == "README.md":
                assert resolved.exists(), target
