"""train_ensemble: (fold, member) pairs in worker processes give the ensemble one process gives; cancel stops them."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from inference.core.phantom import write_phantom_set
from training.configs import ensemble_config
from training.core.datasets import load_labelme_folder
from training.ensemble_training import TrainingCancelled, train_ensemble


@pytest.fixture(scope="module")
def phantom_samples(tmp_path_factory):
    folder = tmp_path_factory.mktemp("phantoms")
    write_phantom_set(folder, n=6, seed=3, legs=1)
    return load_labelme_folder(folder, group_pattern=r"^(.*)$")


def _close(a: object, b: object, tolerance: float) -> bool:
    """Same structure, numbers within ``tolerance`` (CPU training is not bit-reproducible run to run)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_close(a[k], b[k], tolerance) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_close(x, y, tolerance) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= tolerance
    return a == b


def test_worker_processes_give_the_ensemble_one_process_gives(phantom_samples, tmp_path: Path) -> None:
    config = ensemble_config("smoke")
    events: list[dict] = []
    alone = train_ensemble(phantom_samples, config, out_dir=tmp_path / "one")
    pooled = train_ensemble(phantom_samples, config, out_dir=tmp_path / "four", workers=4, progress=events.append)

    assert pooled["folds"] == alone["folds"]  # same test images, members, artifact paths and params
    assert _close(pooled["evaluation"]["segmentation_pooled"], alone["evaluation"]["segmentation_pooled"], 0.02)
    assert _close(pooled["evaluation"]["keypoints"], alone["evaluation"]["keypoints"], 1e9)  # same members, legs
    n_members = len(config.segmentation) + len(config.keypoint)
    trained = {(e["fold"], e["member"]) for e in events if e["stage"] == "train"}
    assert len(trained) == config.n_folds * n_members  # every pair reported its epochs back
    assert all("member_index" not in e for e in events)
    assert [e for e in events if e["stage"] == "train"][-1]["eta_s"] is not None
    assert events[-1]["stage"] == "evaluate"
    for fold in pooled["folds"]:  # every artifact the manifest names was written by a worker
        for member in fold["segmentation"] + fold["keypoint"]:
            assert (tmp_path / "four" / member["path"] / "manifest.json").is_file()


def test_cancelling_stops_every_worker_process(phantom_samples, tmp_path: Path) -> None:
    def cancel_on_first_epoch(event: dict) -> None:
        if event["stage"] == "train":
            raise TrainingCancelled("cancelled by a user")

    with pytest.raises(TrainingCancelled):
        train_ensemble(phantom_samples, ensemble_config("smoke"), out_dir=tmp_path / "cancelled", workers=2,
                       progress=cancel_on_first_epoch)
    deadline = time.monotonic() + 10
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert multiprocessing.active_children() == []
    assert not (tmp_path / "cancelled" / "ensemble.json").exists()


def test_a_killed_run_resumes_after_the_last_member_it_finished(phantom_samples, tmp_path: Path) -> None:
    config = ensemble_config("smoke")
    n_members = len(config.segmentation) + len(config.keypoint)

    def killed_after_two_members(event: dict) -> None:
        if event["stage"] == "predict_out_of_fold" and event["member"] == config.segmentation[1].name:
            raise TrainingCancelled("worker killed")  # members 0 and 1 of fold 0 have their artifacts

    with pytest.raises(TrainingCancelled):
        train_ensemble(phantom_samples, config, out_dir=tmp_path, progress=killed_after_two_members)
    events: list[dict] = []
    manifest = train_ensemble(phantom_samples, config, out_dir=tmp_path, progress=events.append)
    resumed = [(e["fold"], e["member"]) for e in events if e["stage"] == "resume"]
    assert resumed == [(0, config.segmentation[0].name), (0, config.segmentation[1].name)]
    trained = {(e["fold"], e["member"]) for e in events if e["stage"] == "train"}
    assert len(trained) == config.n_folds * n_members - 2  # the two finished members were not trained again
    assert (tmp_path / "ensemble.json").is_file() and len(manifest["folds"]) == config.n_folds
