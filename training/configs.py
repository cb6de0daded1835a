"""Named ensemble training configurations.

* ``tiny``: every member x 4 folds in minutes on 2 CPU cores (runs end to end; accuracy is not the point);
* ``starter``: the members shipped in the repository, refitted on all data (``training/starter.py``);
* ``default``: the best CPU accuracy found (docs/accuracy.md);
* ``gpu``: the best accuracy found for minutes on one GPU (six segmentation members at full resolution);
* ``paper``: the paper's schedule, for a GPU;
* ``smoke``: the test suite's end-to-end check: 2 folds, 2 + 2 members, one short epoch each.
"""

from __future__ import annotations

import dataclasses

from inference.backends.base import MemberSpec
from training.ensemble_training import EnsembleTrainingConfig

CONFIG_NAMES = ("tiny", "starter", "default", "gpu", "paper", "smoke")
#: What each config is for and what it costs, as the retrain form shows it (issue 27, item 8: "starter" and
#: "smoke" had no description and the 13 h ETA of "default" on a CPU was not explained).
CONFIG_DESCRIPTIONS: dict[str, str] = {
    "tiny": "4 folds x (4 segmentation + 3 key-point members), minutes on 2 CPU cores: checks the loop, not accuracy",
    "starter": "the members shipped in models/starter, refitted on this snapshot (one member per kind)",
    "default": "the best accuracy found on a CPU: 4 folds x (4 + 4 members); on 2 CPU cores about 3 min per "
               "image (a 256-image snapshot showed a 13 h ETA), so use 'gpu' on a GPU worker",
    "gpu": "the best accuracy found for one GPU: 4 folds x (6 + 4 members), 7 min on one H100 for the OAI crops",
    "paper": "the paper's schedule (4 folds x (6 + 4 members)), for a GPU",
    "smoke": "the test suite's check: 2 folds, 2 + 2 members, one short epoch each (seconds; no use for patients)",
}


def _shrunk(spec: MemberSpec, **params: object) -> MemberSpec:
    return dataclasses.replace(spec, params={**spec.params, **params})


def ensemble_config(name: str, *, seed: int = 0) -> EnsembleTrainingConfig:
    """The members of config ``name``: segmentation members then key-point members, fixed order."""
    from training.members import SEGMENTATION_CONFIGS
    from training.members_keypoints import KEYPOINT_CONFIGS

    if name == "smoke":
        segmentation = [_shrunk(s, epochs=1) for s in SEGMENTATION_CONFIGS["tiny"][:2]]
        keypoint = [_shrunk(s, epochs=1, max_train_samples=8) for s in KEYPOINT_CONFIGS["tiny"][:2]]
        return EnsembleTrainingConfig(name=name, segmentation=tuple(segmentation), keypoint=tuple(keypoint),
                                      n_folds=2, n_parts=2, seed=seed)
    if name not in SEGMENTATION_CONFIGS or name not in KEYPOINT_CONFIGS:
        raise KeyError(f"Unknown config {name!r}; known: {', '.join(CONFIG_NAMES)}")
    return EnsembleTrainingConfig(name=name, segmentation=tuple(SEGMENTATION_CONFIGS[name]),
                                  keypoint=tuple(KEYPOINT_CONFIGS[name]), seed=seed)
