"""What the training-run admin page shows: progress, loss curve and the evaluation as tables (issue 16, item 9;
SAM tuning runs: the held-out IoU of the candidate next to the active weights, issue 15 item 3).

Everything is read from the run's row; nothing here changes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from training.charts import loss_curve_svg
from training.core.report import parse_markdown_table
from training.models import RunStatus, TrainingRun

LIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
#: A running run whose cancel was asked for, until its worker has stopped (issue 27, item 8: the page said
#: "Cancelled" while the worker went on for two minutes).
STOPPING_TEXT = "Stopping: cancel requested; the worker stops at the end of its current epoch"
# Stages after the members are trained: the run is nearly done, but no ETA is reported any more.
_FINISHING_STAGES = {"stacking": 0.97, "export": 0.98, "evaluate": 0.99}  # export: SAM tuning runs


def eta_text(seconds: Any) -> str:
    """``12m05s`` / ``2h03m`` / ``–``."""
    if not isinstance(seconds, (int, float)):
        return "–"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{secs:02d}s"


def progress_fraction(run: TrainingRun) -> float | None:
    """How much of the run is done, 0..1, or None when it cannot be told (queued, loading data).

    While members train, ``elapsed / (elapsed + eta)`` from the last progress report (the ETA comes from the
    epochs done over all (fold, member) pairs); a finished run is 1.
    """
    progress = run.progress or {}
    if run.status == RunStatus.SUCCEEDED:
        return 1.0
    stage = progress.get("stage")
    if stage in _FINISHING_STAGES:
        return _FINISHING_STAGES[stage]
    elapsed, eta = progress.get("elapsed_s"), progress.get("eta_s")
    if isinstance(elapsed, (int, float)) and isinstance(eta, (int, float)) and elapsed + eta > 0:
        return max(0.0, min(1.0, elapsed / (elapsed + eta)))
    return None


@dataclass(frozen=True)
class MarkdownTable:
    header: list[str]
    rows: list[list[tuple[str, bool]]]


@dataclass(frozen=True)
class TrainingRunDisplay:
    status: str
    live: bool
    stage: str
    fold: str
    member: str
    epoch: str
    eta: str
    percent: int | None
    loss_curve_svg: str | None
    table_ii: MarkdownTable | None
    keypoint_header: list[str] = field(default_factory=list)
    keypoint_rows: list[list[str]] = field(default_factory=list)
    sam_header: list[str] = field(default_factory=list)
    sam_rows: list[list[str]] = field(default_factory=list)
    sam_weights: list[tuple[str, str]] = field(default_factory=list)
    log_tail: str = ""
    error: str = ""


def _keypoint_table(keypoints: Any) -> tuple[list[str], list[list[str]]]:
    """Held-out key-point metrics per member and for the ensemble: NED median, PCK, |HKA error|."""
    if not isinstance(keypoints, dict) or not keypoints:
        return [], []
    thresholds = sorted({str(t) for row in keypoints.values() if isinstance(row, dict)
                         for t in (row.get("pck") or {})}, key=float)
    header = ["Model", "NED median", *[f"PCK@{t}" for t in thresholds], "|HKA error| mean (°)",
              "|HKA error| median (°)", "Legs"]

    def number(value: Any, digits: int) -> str:
        return "–" if not isinstance(value, (int, float)) else f"{value:.{digits}f}"

    rows = []
    for name, row in keypoints.items():
        if not isinstance(row, dict):
            continue
        pck = row.get("pck") or {}
        rows.append([name, number(row.get("ned_median"), 4), *[number(pck.get(t), 3) for t in thresholds],
                     number(row.get("hka_abs_error_mean_deg"), 2), number(row.get("hka_abs_error_median_deg"), 2),
                     str(row.get("n_legs", "–"))])
    return header, rows


SAM_HEADER = ["Bone", "Prompt", "n", "Candidate mean", "Candidate median", "Candidate p10", "Active mean",
              "Active median", "Active p10", "Δ mean"]


def _sam_table(sam: Any) -> tuple[list[str], list[list[str]], list[tuple[str, str]]]:
    """A SAM tuning run's held-out IoU, candidate next to the active weights, per bone and prompt type;
    and which weights each column is."""
    if not isinstance(sam, dict) or not isinstance(sam.get("candidate"), dict):
        return [], [], []
    candidate, active = sam["candidate"].get("iou") or {}, (sam.get("active") or {}).get("iou") or {}

    def number(stats: Any, key: str) -> str:
        value = stats.get(key) if isinstance(stats, dict) else None
        return "–" if not isinstance(value, (int, float)) else f"{value:.3f}"

    rows = []
    for bone, prompts in candidate.items():
        for prompt, stats in prompts.items():
            other = (active.get(bone) or {}).get(prompt)
            delta = "–" if not isinstance(other, dict) else f"{stats['mean'] - other['mean']:+.3f}"
            rows.append([bone, prompt, str(stats.get("n", "–")), number(stats, "mean"), number(stats, "median"),
                         number(stats, "p10"), number(other, "mean"), number(other, "median"), number(other, "p10"),
                         delta])
    active_weights = (sam.get("active") or {}).get("weights") or {}
    weights = [("Held-out fold", f"{sam.get('holdout_fold')} ({sam.get('heldout_images')} images, "
                                 f"{sam.get('heldout_legs')} legs; trained on {sam.get('train_images')} images)"),
               ("Candidate", f"{sam['candidate'].get('weights', {}).get('path')} "
                             f"(sha256 {str(sam['candidate'].get('weights', {}).get('sha256'))[:12]}…)"),
               ("Active when evaluated", f"{active_weights.get('source')}: {active_weights.get('path')} "
                                         f"(sha256 {str(active_weights.get('sha256'))[:12]}…)")]
    return SAM_HEADER, rows, weights


def training_run_display(run: TrainingRun) -> TrainingRunDisplay:
    """The page's content for ``run``."""
    progress = run.progress or {}
    epoch, epochs = progress.get("epoch"), progress.get("epochs")
    fraction = progress_fraction(run)
    metrics = run.metrics or {}
    table = None
    if isinstance(metrics.get("table_ii"), str):
        try:
            table = MarkdownTable(*parse_markdown_table(metrics["table_ii"]))
        except ValueError:
            table = None
    keypoint_header, keypoint_rows = _keypoint_table(metrics.get("keypoints"))
    sam_header, sam_rows, sam_weights = _sam_table(metrics.get("sam"))
    stopping = run.status == RunStatus.CANCELLED and run.finished_at is None
    return TrainingRunDisplay(
        status=STOPPING_TEXT if stopping else run.get_status_display(),
        live=run.status in LIVE_STATUSES or stopping,
        stage=str(progress.get("stage", "–")),
        fold=str(progress.get("fold", "–")),
        member=str(progress.get("member", "–")),
        epoch="–" if epoch is None else f"{epoch}/{epochs}" if epochs else str(epoch),
        eta=eta_text(progress.get("eta_s")),
        percent=None if fraction is None else int(round(100 * fraction)),
        loss_curve_svg=loss_curve_svg(run.loss_history or []),
        table_ii=table,
        keypoint_header=keypoint_header,
        keypoint_rows=keypoint_rows,
        sam_header=sam_header,
        sam_rows=sam_rows,
        sam_weights=sam_weights,
        log_tail="\n".join((run.log or "").splitlines()[-40:]),
        error=run.error or "",
    )
