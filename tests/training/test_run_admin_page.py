"""The training-run admin page reads like a product (issue 16, item 9): read-only, a progress bar, the loss curve,
Table II and the key-point table as tables, refreshing by itself while the run goes on; cancel stays."""

from __future__ import annotations

import pytest

from training.core.report import parse_markdown_table
from training.models import RunStatus, TrainingRun
from training.run_display import progress_fraction

pytestmark = pytest.mark.django_db

TABLE_II = """| Method | Front femur | Front tibia |
|---|---:|---:|
| stacking | **0.9456 ± 0.0100** | **0.9413 ± 0.0120** |
| majority | 0.9400 ± 0.0110 | 0.9390 ± 0.0130 |
| unet | 0.9300 ± n/a | — |"""

METRICS = {
    "segmentation_pooled": {"stacking/femur": [0.94, 0.95]},
    "table_ii": TABLE_II,
    "keypoints": {
        "hrnet": {"ned_median": 0.0123, "pck": {"0.02": 0.81, "0.05": 0.97}, "hka_abs_error_mean_deg": 0.91,
                  "hka_abs_error_median_deg": 0.72, "n_legs": 60},
        "ensemble": {"ned_median": 0.0101, "pck": {"0.02": 0.85, "0.05": 0.98}, "hka_abs_error_mean_deg": 0.77,
                     "hka_abs_error_median_deg": 0.61, "n_legs": 60},
    },
}


def _page(client, run: TrainingRun) -> str:  # noqa: ANN001
    response = client.get(f"/admin/training/trainingrun/{run.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_running_run_shows_progress_refreshes_and_cannot_be_edited(admin_site_client):
    run = TrainingRun.objects.create(
        config_name="tiny", status=RunStatus.RUNNING,
        progress={"stage": "train", "fold": 1, "member": "unet", "epoch": 2, "epochs": 5, "eta_s": 75,
                  "elapsed_s": 25.0},
        loss_history=[{"fold": 0, "member": "unet", "epoch": 1, "loss": 0.9},
                      {"fold": 0, "member": "unet", "epoch": 2, "loss": 0.5}],
        log="stage=loading data\nstage=train fold=0 member=unet epoch=1 loss=0.9")
    content = _page(admin_site_client, run)
    assert 'id="run-progress" max="100" value="25"' in content  # 25 s done, 75 s to go
    assert "2/5" in content and "1m15s" in content and 'id="run-loss-curve"' in content and "<svg" in content
    assert 'data-live="1"' in content and "refreshes every 5 s" in content
    assert "Cancel this run" in content and 'id="run-log"' in content
    assert "return confirm('Cancel this training run?" in content  # issue 27, item 8: no confirmation before
    # Read-only: no form field for status, config, loss history or "started by", no save button.
    for name in ("status", "config", "loss_history", "started_by", "progress", "metrics"):
        assert f'name="{name}"' not in content, name
    assert 'name="_save"' not in content
    changed = admin_site_client.post(f"/admin/training/trainingrun/{run.pk}/change/",
                                     {"status": "succeeded", "config_name": "paper"})
    assert changed.status_code == 403
    run.refresh_from_db()
    assert (run.status, run.config_name) == (RunStatus.RUNNING, "tiny")
    assert admin_site_client.get("/admin/training/trainingrun/add/").status_code == 403
    # The cancel button still works.
    assert admin_site_client.post(f"/admin/training/trainingrun/{run.pk}/cancel/").status_code == 302
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and run.finished_at is None
    # Until its worker has stopped, the page says the run is stopping (it said "Cancelled" for two minutes
    # while the worker went on: issue 27, item 8), and keeps refreshing.
    stopping = _page(admin_site_client, run)
    assert "Stopping: cancel requested" in stopping and 'data-live="1"' in stopping
    from training.runs import training_run_outcome

    with training_run_outcome(run=run, cancelled_by=KeyboardInterrupt):  # what the worker does when it stops
        raise KeyboardInterrupt
    run.refresh_from_db()
    assert run.finished_at is not None and 'data-live="0"' in _page(admin_site_client, run)


def test_a_finished_run_shows_table_ii_and_the_keypoint_table_as_tables(admin_site_client):
    run = TrainingRun.objects.create(config_name="gpu", status=RunStatus.SUCCEEDED, metrics=METRICS,
                                     progress={"stage": "done"})
    content = _page(admin_site_client, run)
    assert 'id="run-table-ii"' in content and "<th>Front femur</th>" in content
    assert "<td><strong>0.9456 ± 0.0100</strong></td>" in content and "<td>0.9400 ± 0.0110</td>" in content
    assert "**" not in content  # no Markdown left
    assert 'id="run-keypoints"' in content and "<th>PCK@0.02</th>" in content
    ensemble_row = "<td>ensemble</td><td>0.0101</td><td>0.850</td><td>0.980</td><td>0.77</td><td>0.61</td><td>60</td>"
    assert ensemble_row in content
    assert "segmentation_pooled" not in content  # no raw JSON dump
    assert 'value="100"' in content and 'data-live="0"' in content and "Cancel this run" not in content


def test_markdown_table_and_progress_fraction():
    header, rows = parse_markdown_table(TABLE_II)
    assert header == ["Method", "Front femur", "Front tibia"]
    assert rows[0] == [("stacking", False), ("0.9456 ± 0.0100", True), ("0.9413 ± 0.0120", True)]
    assert rows[2][2] == ("—", False)
    with pytest.raises(ValueError):
        parse_markdown_table("not a table")
    run = TrainingRun(status=RunStatus.RUNNING, progress={"stage": "train", "eta_s": 30, "elapsed_s": 90})
    assert progress_fraction(run) == pytest.approx(0.75)
    assert progress_fraction(TrainingRun(status=RunStatus.QUEUED, progress={})) is None
    assert progress_fraction(TrainingRun(status=RunStatus.RUNNING, progress={"stage": "stacking"})) == 0.97


def test_every_training_config_says_what_it_is_for() -> None:
    """Issue 27, item 8: "starter" and "smoke" had no description; the CPU cost of "default" was not explained."""
    from training.admin_forms import RetrainForm
    from training.configs import CONFIG_DESCRIPTIONS, CONFIG_NAMES

    assert set(CONFIG_DESCRIPTIONS) == set(CONFIG_NAMES)
    labels = dict(RetrainForm().fields["config"].choices)
    assert all(labels[name].startswith(f"{name}: ") and len(labels[name]) > 30 for name in CONFIG_NAMES)
    assert "13 h" in labels["default"] and "gpu" in labels["default"]
