"""A training run killed after its first epoch's checkpoint, then resumed: what every resumable trainer must pass."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


class KilledWorker(Exception):
    """Raised from a training run's progress callback: the worker dies right after an epoch's checkpoint."""


def train_killed_then_resumed(train: Callable[..., Path], out_dir: Path, checkpoint_name: str, **kwargs: object
                              ) -> list[dict]:
    """Run ``train`` until its first epoch's checkpoint, kill it, check the checkpoint, resume; return the
    resumed run's progress events (the killed run must have reported epoch 1 only)."""
    killed: list[dict] = []

    def kill_after_first_epoch(event: dict) -> None:
        killed.append(event)
        raise KilledWorker

    with pytest.raises(KilledWorker):
        train(out_dir=out_dir, progress=kill_after_first_epoch, **kwargs)
    assert (out_dir / checkpoint_name).is_file() and not (out_dir / "manifest.json").exists()
    assert [event["epoch"] for event in killed] == [1]
    resumed: list[dict] = []
    train(out_dir=out_dir, progress=resumed.append, **kwargs)
    assert not (out_dir / checkpoint_name).exists()
    return resumed
