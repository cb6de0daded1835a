"""``{% vite_entry "src/pages/editor.ts" %}``: the tags that load one entry of the Vite build.

Vite writes ``frontend/dist/.vite/manifest.json`` (``build.manifest: true``); each entry lists its
hashed JS file, the CSS it imports and its shared chunks. Django serves ``frontend/dist`` as static
files (``STATICFILES_DIRS``), so every file is referenced with ``{% static %}``. The manifest is
re-read when its modification time changes, so a rebuild needs no restart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django import template
from django.conf import settings
from django.templatetags.static import static
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

_cache: dict[str, Any] = {"mtime": None, "manifest": {}}


def manifest_path() -> Path:
    return Path(settings.BASE_DIR) / "frontend" / "dist" / ".vite" / "manifest.json"


def load_manifest() -> dict[str, Any]:
    """The parsed manifest, or ``{}`` when the front end has not been built."""
    path = manifest_path()
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        return {}
    if _cache["mtime"] != mtime:
        _cache["manifest"] = json.loads(path.read_text(encoding="utf-8"))
        _cache["mtime"] = mtime
    return _cache["manifest"]


def _walk(manifest: dict[str, Any], key: str, seen: set[str]) -> list[str]:
    """``key`` and every chunk it imports statically, dependencies first, each once."""
    if key in seen or key not in manifest:
        return []
    seen.add(key)
    order: list[str] = []
    for child in manifest[key].get("imports", []):
        order += _walk(manifest, child, seen)
    return [*order, key]


def entry_files(entry: str) -> dict[str, list[str]] | None:
    """``{"js": [...], "css": [...], "preload": [...]}`` for ``entry`` (paths inside dist), or None."""
    manifest = load_manifest()
    if entry not in manifest:
        return None
    chunks = _walk(manifest, entry, set())
    css: list[str] = []
    for key in chunks:
        for name in manifest[key].get("css", []):
            if name not in css:
                css.append(name)
    return {
        "js": [manifest[entry]["file"]],
        "css": css,
        "preload": [manifest[key]["file"] for key in chunks if key != entry],
    }


@register.simple_tag
def vite_entry(entry: str) -> SafeString:
    files = entry_files(entry)
    if files is None:
        return format_html(
            '<p class="frontend-missing error" id="frontend-missing">The browser UI is not built ({}). '
            "Run <code>scripts/setup</code> (or <code>npm ci &amp;&amp; npm run build</code> in "
            "<code>frontend/</code>).</p>",
            entry,
        )
    parts = [
        format_html_join("", '<link rel="stylesheet" href="{}">', ((static(name),) for name in files["css"])),
        format_html_join("", '<link rel="modulepreload" href="{}">', ((static(name),) for name in files["preload"])),
        format_html_join("", '<script type="module" src="{}"></script>', ((static(name),) for name in files["js"])),
    ]
    return mark_safe("".join(parts))  # noqa: S308 - every part is built with format_html
