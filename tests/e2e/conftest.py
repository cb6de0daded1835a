"""Headless Debian chromium driven by Playwright (the browser is never downloaded)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]


FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
# Tests write their screenshots under var/ (ignored by git): a test run must not rewrite the tracked pictures in
# docs/screenshots. Refresh those on purpose with ENLLASD_SCREENSHOTS=docs/screenshots (issue 16, item 11).
SCREENSHOT_DIR = Path(os.environ.get("ENLLASD_SCREENSHOTS")
                      or Path(__file__).resolve().parents[2] / "var" / "screenshots")


def _bundle_is_stale(manifest: Path) -> bool:
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [FRONTEND / "package-lock.json", FRONTEND / "vite.config.ts", *(FRONTEND / "src").rglob("*")]
    return any(path.is_file() and path.stat().st_mtime > built for path in sources)


@pytest.fixture(scope="session", autouse=True)
def frontend_bundle():
    """The built browser UI (frontend/dist): built here when missing or older than its sources.

    Django only lists frontend/dist in STATICFILES_DIRS when it existed at start-up, so it is added
    here after a first build (before the live server creates its static-files handler).
    """
    from django.conf import settings
    from django.contrib.staticfiles import finders

    dist = FRONTEND / "dist"
    if _bundle_is_stale(dist / ".vite" / "manifest.json"):
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("frontend/dist is missing or stale and npm is not installed (scripts/setup builds it)")
        if not (FRONTEND / "node_modules").is_dir():
            subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"], cwd=FRONTEND, check=True)
        subprocess.run([npm, "run", "--silent", "build"], cwd=FRONTEND, check=True)
    previous = list(settings.STATICFILES_DIRS)
    if all(Path(entry) != dist for entry in previous):
        settings.STATICFILES_DIRS = [*previous, dist]
        finders.get_finder.cache_clear()
    yield dist
    settings.STATICFILES_DIRS = previous
    finders.get_finder.cache_clear()


@pytest.fixture
def login(page, live_server):
    """``login(username, password)`` through the login form."""

    def _login(username: str, password: str) -> None:
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("#login-button")
        page.wait_for_load_state()

    return _login


def create_case_in_browser(page, base_url: str, *, patient_code: str, acquisition_date: str, view: str = "AP",  # noqa: ANN001
                           cohort: str | None = None) -> None:
    """Create a case with the case list's "New case" form, as a logged-in user, and land on its page."""
    page.goto(f"{base_url}/")
    page.click("#case-actions summary:has-text('New case')")
    page.fill("#new-case input[name=patient_code]", patient_code)
    page.fill("#new-case input[name=acquisition_date]", acquisition_date)
    page.select_option("#new-case select[name=view]", view)
    if cohort is not None:
        page.select_option("#new-case select[name=cohort]", cohort)
    page.click("#new-case button[type=submit]")
    page.wait_for_url("**/cases/*/")


def phantom_png(phantom) -> bytes:  # noqa: ANN001 - inference.core.phantom.Phantom
    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.fromarray(phantom.image).save(buffer, format="PNG")
    return buffer.getvalue()


def open_editor(page, url: str) -> None:  # noqa: ANN001
    """Go to an editor page and wait until it has drawn the image and its overlay."""
    page.goto(url)
    page.wait_for_selector("body[data-editor-ready='1']", timeout=30_000)
    page.wait_for_selector("#overlay")


def image_to_client(page, x: float, y: float) -> tuple[float, float]:  # noqa: ANN001
    """Page coordinates of the image pixel (x, y) in the editor's current view."""
    cx, cy = page.evaluate("([x, y]) => window.enllasdEditor.imageToClient(x, y)", [x, y])
    return float(cx), float(cy)


def click_image(page, x: float, y: float, **kwargs) -> None:  # noqa: ANN001, ANN003
    cx, cy = image_to_client(page, x, y)
    page.mouse.click(cx, cy, **kwargs)


def drag_image(page, start: tuple[float, float], end: tuple[float, float], *, steps: int = 8) -> None:  # noqa: ANN001
    sx, sy = image_to_client(page, *start)
    ex, ey = image_to_client(page, *end)
    page.mouse.move(sx, sy)
    page.mouse.down()
    page.mouse.move(ex, ey, steps=steps)
    page.mouse.up()


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.skip(f"chromium not installed at {CHROMIUM} (scripts/test installs it)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; Django's ORM must still be usable here.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser):
    page = browser.new_page()
    yield page
    page.close()
    browser.clear_cookies()
