import pytest


@pytest.fixture(autouse=True)
def _clear_alignment_cache(request):
    """Cached alignments are keyed by row id; start every test from an empty cache."""
    if not request.config.pluginmanager.hasplugin("django"):
        return
    from django.core.cache import cache

    cache.clear()
