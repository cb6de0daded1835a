"""The landmark refiner's training data (``build_starter`` step 2) leaves out what its figures are measured on:
the held-out EOS fold and the held-out OAI patients, also inside the synthetic bilateral pairs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require_shared

pytest.importorskip("torch")


def test_refiner_leaves_out_held_out_eos_and_oai(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data = require_shared("eos-pediatric").parent
    require_shared("oai-longleg-seg")
    from inference.backends import landmark_refiner
    from training.core.datasets import load_labelme_folder
    from training.starter import OAI_FOLDER, eos_folds, held_out_oai_names, train_landmark_refiner

    seen: dict = {}

    def fake_train(samples, *, out_dir, epochs, progress, training_data):  # noqa: ANN001, ANN202
        seen.update(samples=samples, epochs=epochs, data=training_data)
        return out_dir

    monkeypatch.setattr(landmark_refiner, "train", fake_train)
    assert train_landmark_refiner(data, tmp_path / "refiner", held_out_fold=0, epochs=3) == tmp_path / "refiner"
    names = [sample.name for sample in seen["samples"]]
    ids, folds = eos_folds(data)
    held_out_eos = {f"eos_{ids[i]}" for i in folds.test_indices(0)}
    held_out_oai = held_out_oai_names(load_labelme_folder(data / OAI_FOLDER, group_pattern=r"^([^_]+)"))
    assert len(held_out_oai) >= 20 and seen["epochs"] == 3
    assert not held_out_eos & set(names)
    assert not [name for name in names if any(crop in name for crop in held_out_oai)]
    assert sum(name.startswith("eos_") for name in names) == len(ids) - len(held_out_eos)
    assert any(name.startswith("pair_") for name in names) and any(name.startswith("oai_") for name in names)
    assert seen["data"]["held_out_eos_fold"] == 0 and seen["data"]["held_out_oai_crops"] == len(held_out_oai)
