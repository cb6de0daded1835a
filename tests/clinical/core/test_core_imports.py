"""clinical.core is Django-free: it imports without settings and pulls in no web or torch module."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_core_imports_without_django() -> None:
    code = (
        "import sys\n"
        "import clinical.core.agreement, clinical.core.lengths, clinical.core.normal_ranges\n"
        "import clinical.core.plausibility, clinical.core.svg, clinical.core.timeline\n"
        "bad = [m for m in ('django', 'rest_framework', 'celery', 'torch', 'matplotlib') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)}
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
