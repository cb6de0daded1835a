"""Admin pages of the training loop: snapshots, retraining, SAM re-tuning, comparisons, promotion, rollback,
re-prediction.

Every action that changes what the system does (snapshot, retrain, compare, promote, roll back,
cancel) needs the admin role and goes through the same services as the API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from enllasd_web.exceptions import ApplicationError
from enllasd_web.roles import Role, has_role
from inference.models import VersionStatus
from training import admin_forms
from training.charts import bland_altman_svgs, ordered_metric_names
from training.comparisons import ensemble_comparison_create
from training.models import (
    DatasetSnapshot,
    DatasetSnapshotEntry,
    EnsembleComparison,
    EnsembleLifecycle,
    EnsemblePromotion,
    RepredictJob,
    RunStatus,
    SamPromotion,
    TrainingRun,
)
from training.promotions import ensemble_promote, ensemble_rollback
from training.run_display import eta_text, training_run_display
from training.sam_promotions import sam_tuning_run_promote, sam_weights_rollback
from training.sam_tuning import SAM_TUNING_CONFIG, sam_tuning_candidate, sam_tuning_run_create
from training.services import training_run_cancel, training_run_create
from training.snapshots import dataset_snapshot_create


class _AdminRoleMixin:
    """``permissions=["admin_role"]`` on an action, and ``_admin_only`` around a custom view."""

    admin_site: admin.AdminSite

    def has_admin_role_permission(self, request: HttpRequest) -> bool:
        return has_role(request.user, Role.ADMIN)

    def _admin_only(self, view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not has_role(request.user, Role.ADMIN):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return self.admin_site.admin_view(guarded)

    def _sam_rollback(self, request: HttpRequest, options: dict[str, Any]) -> bool:
        """Roll the SAM bone weights back through the service, reporting the outcome; True when it worked."""
        try:
            promotion = sam_weights_rollback(promoted_by=request.user, **options)
        except ApplicationError as exc:
            self._report(request, exc)
            return False
        self.message_user(request, f"SAM bone weights rolled back to "  # type: ignore[attr-defined]
                                   f"{promotion.weights_id or 'the shipped file'} (promotion {promotion.pk}).")
        return True

    def _exactly_one(self, request: HttpRequest, queryset: QuerySet[Any], what: str) -> bool:
        """True when one row is selected; otherwise says so (``what``: "ensemble to promote")."""
        if queryset.count() == 1:
            return True
        self.message_user(request, f"Select exactly one {what}.", level=messages.ERROR)  # type: ignore[attr-defined]
        return False

    def _report(self, request: HttpRequest, exc: ApplicationError) -> None:
        self.message_user(request, exc.message, level=messages.ERROR)  # type: ignore[attr-defined]

    def _promote(self, request: HttpRequest, *, ensemble: Any, options: dict[str, Any],
                 comparison: EnsembleComparison | None = None) -> bool:
        """Promote through the service and report the outcome as an admin message; True when it worked."""
        try:
            promotion = ensemble_promote(ensemble=ensemble, promoted_by=request.user, comparison=comparison,
                                         **options)
        except ApplicationError as exc:
            self._report(request, exc)
            return False
        self.message_user(  # type: ignore[attr-defined]
            request, f"Ensemble {ensemble.pk} is active (was {promotion.previous_active_id or 'none'}).")
        return True


class _ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by services only: viewable, never added, changed or deleted by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --------------------------------------------------------------------------------------------
# Dataset snapshots
# --------------------------------------------------------------------------------------------
class DatasetSnapshotEntryInline(admin.TabularInline):
    model = DatasetSnapshotEntry
    fields = ["image", "revision", "patient_code", "fold", "acceptance_override"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DatasetSnapshot)
class DatasetSnapshotAdmin(_AdminRoleMixin, _ReadOnlyAdmin):
    list_display = ["id", "name", "view", "n_images", "n_folds", "seed", "code_version", "created_by", "created_at"]
    list_filter = ["view"]
    search_fields = ["name", "notes"]
    readonly_fields = ["name", "view", "n_folds", "seed", "filters", "excluded", "notes", "code_version",
                       "created_by", "created_at", "training_runs"]
    inlines = [DatasetSnapshotEntryInline]
    actions = ["retrain", "tune_sam"]

    @admin.display(description="Images")
    def n_images(self, snapshot: DatasetSnapshot) -> int:
        return snapshot.entries.count()

    @admin.display(description="Training runs")
    def training_runs(self, snapshot: DatasetSnapshot) -> SafeString:
        runs = snapshot.training_runs.all()
        return format_html_join(", ", '<a href="{}">{}</a>', (
            (reverse("admin:training_trainingrun_change", args=[run.pk]), str(run)) for run in runs
        )) or mark_safe("none yet")

    def get_urls(self) -> list[URLPattern]:
        return [
            path("create-from-approved/", self._admin_only(self.create_view), name="training_datasetsnapshot_create"),
            path("<int:snapshot_id>/retrain/", self._admin_only(self.retrain_view),
                 name="training_datasetsnapshot_retrain"),
            path("<int:snapshot_id>/tune-sam/", self._admin_only(self.tune_sam_view),
                 name="training_datasetsnapshot_tune_sam"),
            *super().get_urls(),
        ]

    def create_view(self, request: HttpRequest) -> HttpResponse:
        form = admin_forms.SnapshotCreateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                snapshot = dataset_snapshot_create(**form.cleaned_data, created_by=request.user)
            except ApplicationError as exc:
                self._report(request, exc)
            else:
                self.message_user(request, f"Snapshot {snapshot} created with {snapshot.entries.count()} images.")
                return HttpResponseRedirect(reverse("admin:training_datasetsnapshot_change", args=[snapshot.pk]))
        return admin_forms.render_form_page(
            request, admin_context=self.admin_site.each_context(request),
            title="Create a dataset snapshot from approved revisions", form=form, submit_label="Create snapshot",
            intro="Freezes the approved head revision (model, corrected, manual or imported) of every image of "
                  "the view, with a patient-grouped fold assignment.",
        )

    def retrain_view(self, request: HttpRequest, snapshot_id: int) -> HttpResponse:
        snapshot = get_object_or_404(DatasetSnapshot, pk=snapshot_id)
        form = admin_forms.RetrainForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            run = self._start_runs(request, [snapshot], form.cleaned_data)
            if run is not None:
                return HttpResponseRedirect(reverse("admin:training_trainingrun_change", args=[run.pk]))
        return admin_forms.render_form_page(
            request, admin_context=self.admin_site.each_context(request), title=f"Retrain from {snapshot}",
            form=form, submit_label="Start training", objects=[snapshot],
        )

    @admin.action(description="Retrain from the selected snapshots…", permissions=["admin_role"])
    def retrain(self, request: HttpRequest, queryset: QuerySet[DatasetSnapshot]) -> HttpResponse | None:
        form = admin_forms.RetrainForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._start_runs(request, list(queryset), form.cleaned_data)
            return None
        return admin_forms.render_form_page(
            request, admin_context=self.admin_site.each_context(request), title="Retrain from snapshots",
            form=form, submit_label="Start training", objects=list(queryset), action="retrain",
        )

    def tune_sam_view(self, request: HttpRequest, snapshot_id: int) -> HttpResponse:
        snapshot = get_object_or_404(DatasetSnapshot, pk=snapshot_id)
        form = admin_forms.SamTuneForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            run = self._start_sam_tuning(request, snapshot, form.cleaned_data)
            if run is not None:
                return HttpResponseRedirect(reverse("admin:training_trainingrun_change", args=[run.pk]))
        return admin_forms.render_form_page(
            request, admin_context=self.admin_site.each_context(request), title=f"Tune SAM on {snapshot}",
            form=form, submit_label="Start SAM tuning", objects=[snapshot], intro=SAM_TUNE_INTRO,
        )

    @admin.action(description="Tune SAM on the selected snapshot…", permissions=["admin_role"])
    def tune_sam(self, request: HttpRequest, queryset: QuerySet[DatasetSnapshot]) -> HttpResponse | None:
        if not self._exactly_one(request, queryset, "snapshot to tune SAM on"):
            return None
        form = admin_forms.SamTuneForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            run = self._start_sam_tuning(request, queryset.get(), form.cleaned_data)
            return None if run is None else HttpResponseRedirect(
                reverse("admin:training_trainingrun_change", args=[run.pk]))
        return admin_forms.render_form_page(
            request, admin_context=self.admin_site.each_context(request), title="Tune SAM on a snapshot",
            form=form, submit_label="Start SAM tuning", objects=list(queryset), action="tune_sam",
            intro=SAM_TUNE_INTRO,
        )

    def _start_sam_tuning(self, request: HttpRequest, snapshot: DatasetSnapshot,
                          options: dict[str, Any]) -> TrainingRun | None:
        try:
            run = sam_tuning_run_create(dataset_snapshot=snapshot, started_by=request.user, **options)
        except ApplicationError as exc:
            self._report(request, exc)
            return None
        self.message_user(request, f"SAM tuning run {run.pk} queued on {snapshot} (held-out fold "
                                   f"{run.config['holdout_fold']}).")
        return run

    def _start_runs(self, request: HttpRequest, snapshots: list[DatasetSnapshot],
                    options: dict[str, Any]) -> TrainingRun | None:
        run = None
        for snapshot in snapshots:
            try:
                run = training_run_create(config_name=options["config"], seed=options["seed"],
                                          dataset_snapshot=snapshot, started_by=request.user)
            except ApplicationError as exc:
                self._report(request, exc)
                return None
            self.message_user(request, f"Training run {run.pk} ({run.config_name}) queued from {snapshot}.")
        return run


SAM_TUNE_INTRO = ("Tunes SAM's bone decoder (litemedsam_bone) on the approved femur/tibia outlines of the "
                  "snapshot's other folds, starting from the active SAM weights, then measures the candidate and "
                  "the active weights on the held-out fold (IoU per bone and prompt type). Promote the candidate "
                  "from the run's page.")


# --------------------------------------------------------------------------------------------
# Training runs
# --------------------------------------------------------------------------------------------
RUN_PAGE_REFRESH_S = 5  # a queued or running run's page reloads its summary this often


@admin.register(TrainingRun)
class TrainingRunAdmin(_AdminRoleMixin, _ReadOnlyAdmin):
    """Runs are records: read-only (no add, change or delete; the cancel button and action stay). The page shows
    stage, fold, epoch, ETA and a progress bar, the loss curve, Table II and the key-point table as tables, the
    log's tail, and refreshes itself while the run is queued or running (``run_display.py``)."""

    list_display = ["id", "config_name", "dataset_snapshot", "status", "stage", "fold", "epoch", "eta",
                    "created_at", "finished_at"]
    list_filter = ["status", "config_name"]
    fields = ["id", "config_name", "seed", "dataset_snapshot", "started_by", "code_version", "created_at",
              "finished_at"]
    readonly_fields = fields
    actions = ["cancel"]

    @admin.display(description="Stage")
    def stage(self, run: TrainingRun) -> str:
        return str(run.progress.get("stage", "–"))

    @admin.display(description="Fold")
    def fold(self, run: TrainingRun) -> str:
        return str(run.progress.get("fold", "–"))

    @admin.display(description="Epoch")
    def epoch(self, run: TrainingRun) -> str:
        epoch, epochs = run.progress.get("epoch"), run.progress.get("epochs")
        return "–" if epoch is None else f"{epoch}/{epochs}" if epochs else str(epoch)

    @admin.display(description="ETA")
    def eta(self, run: TrainingRun) -> str:
        return eta_text(run.progress.get("eta_s"))

    def get_urls(self) -> list[URLPattern]:
        return [path("<uuid:run_id>/cancel/", self._admin_only(self.cancel_view), name="training_trainingrun_cancel"),
                path("<uuid:run_id>/sam-promote/", self._admin_only(self.sam_promote_view),
                     name="training_trainingrun_sam_promote"),
                path("<uuid:run_id>/sam-rollback/", self._admin_only(self.sam_rollback_view),
                     name="training_trainingrun_sam_rollback"),
                *super().get_urls()]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        run = self.get_object(request, object_id)
        is_admin = has_role(request.user, Role.ADMIN)
        can_cancel = run is not None and run.status in {RunStatus.QUEUED, RunStatus.RUNNING}
        candidate = sam_tuning_candidate(run) if run is not None and run.config_name == SAM_TUNING_CONFIG else None
        context = {**(extra_context or {}), "can_cancel": can_cancel and is_admin,
                   "run_display": None if run is None else training_run_display(run),
                   "refresh_s": RUN_PAGE_REFRESH_S,
                   "can_promote_sam": is_admin and candidate is not None and candidate.status != VersionStatus.ACTIVE,
                   "can_rollback_sam": is_admin and candidate is not None and candidate.status == VersionStatus.ACTIVE,
                   "sam_status": "" if candidate is None else
                   f"Candidate weights: model version {candidate.pk}, {candidate.get_status_display().lower()}"
                   f"{' (every SAM worker uses them)' if candidate.status == VersionStatus.ACTIVE else ''}."}
        return super().change_view(request, object_id, form_url, context)

    def sam_promote_view(self, request: HttpRequest, run_id: str) -> HttpResponse:
        run = get_object_or_404(TrainingRun, pk=run_id, config_name=SAM_TUNING_CONFIG)
        form = admin_forms.RollbackForm(request.POST or None)  # a reason, nothing else
        if request.method == "POST" and form.is_valid():
            try:
                promotion = sam_tuning_run_promote(run=run, promoted_by=request.user, **form.cleaned_data)
            except ApplicationError as exc:
                self._report(request, exc)
            else:
                self.message_user(request, f"SAM bone weights of run {run.pk} are active (promotion {promotion.pk}); "
                                           "every SAM worker loads them on its next request.")
                return HttpResponseRedirect(reverse("admin:training_trainingrun_change", args=[run.pk]))
        return admin_forms.render_form_page(
            request, admin_context=self.admin_site.each_context(request), title=f"Promote the SAM weights of {run}",
            form=form, submit_label="Promote", objects=[run],
            intro="The candidate becomes the decoder of litemedsam_bone in every worker; a rollback returns to the "
                  "weights active now.",
        )

    def sam_rollback_view(self, request: HttpRequest, run_id: str) -> HttpResponse:
        run = get_object_or_404(TrainingRun, pk=run_id, config_name=SAM_TUNING_CONFIG)
        form = admin_forms.RollbackForm(request.POST or None)
        if request.method == "POST" and form.is_valid() and self._sam_rollback(request, form.cleaned_data):
            return HttpResponseRedirect(reverse("admin:training_trainingrun_change", args=[run.pk]))
        return admin_forms.render_form_page(
            request, admin_context=self.admin_site.each_context(request), title="Roll back the SAM weights",
            form=form, submit_label="Roll back", objects=[run],
            intro="Undoes the latest SAM promotion: the weights active before it (finally the shipped file) "
                  "become active again.",
        )

    def cancel_view(self, request: HttpRequest, run_id: str) -> HttpResponse:
        if request.method != "POST":
            raise PermissionDenied
        self._cancel(request, [get_object_or_404(TrainingRun, pk=run_id)])
        return HttpResponseRedirect(reverse("admin:training_trainingrun_change", args=[run_id]))

    @admin.action(description="Cancel the selected runs", permissions=["admin_role"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[TrainingRun]) -> None:
        self._cancel(request, list(queryset))

    def _cancel(self, request: HttpRequest, runs: list[TrainingRun]) -> None:
        for run in runs:
            try:
                training_run_cancel(run=run)
            except ApplicationError as exc:
                self._report(request, exc)
            else:
                self.message_user(request, f"Run {run.pk} cancelled; the worker stops at its next progress report.")


# --------------------------------------------------------------------------------------------
# Ensemble versions: compare, promote, roll back
# --------------------------------------------------------------------------------------------
@admin.register(EnsembleLifecycle)
class EnsembleLifecycleAdmin(_AdminRoleMixin, _ReadOnlyAdmin):
    list_display = ["id", "name", "view", "status", "training_run", "dataset_snapshot", "created_at"]
    list_filter = ["status", "view"]
    readonly_fields = ["name", "view", "status", "training_run", "dataset_snapshot", "metrics", "created_at"]
    exclude = ["members", "stackers", "config"]
    actions = ["compare", "promote", "roll_back"]

    @admin.display(description="Dataset snapshot")
    def dataset_snapshot(self, ensemble: EnsembleLifecycle) -> str:
        run = ensemble.training_run
        return str(run.dataset_snapshot) if run is not None and run.dataset_snapshot is not None else "–"

    @admin.action(description="Compare with the active ensemble on a snapshot…", permissions=["admin_role"])
    def compare(self, request: HttpRequest, queryset: QuerySet[EnsembleLifecycle]) -> HttpResponse | None:
        form = admin_forms.CompareForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            for ensemble in queryset:
                try:
                    comparison = ensemble_comparison_create(candidate=ensemble, created_by=request.user,
                                                            **form.cleaned_data)
                except ApplicationError as exc:
                    self._report(request, exc)
                else:
                    self.message_user(request, f"Comparison {comparison.pk} queued for ensemble {ensemble.pk}.")
            return None
        return admin_forms.render_form_page(
            request, admin_context=self.admin_site.each_context(request), title="Compare ensembles",
            form=form, submit_label="Queue comparison", objects=list(queryset), action="compare",
        )

    @admin.action(description="Promote to active…", permissions=["admin_role"])
    def promote(self, request: HttpRequest, queryset: QuerySet[EnsembleLifecycle]) -> HttpResponse | None:
        if not self._exactly_one(request, queryset, "ensemble to promote"):
            return None
        form = admin_forms.PromoteForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._promote(request, ensemble=queryset.get(), options=form.cleaned_data)
            return None
        return admin_forms.render_form_page(
            request, admin_context=self.admin_site.each_context(request), title="Promote an ensemble",
            form=form, submit_label="Promote", objects=list(queryset), action="promote",
        )

    @admin.action(description="Roll back the view to the previous ensemble…", permissions=["admin_role"])
    def roll_back(self, request: HttpRequest, queryset: QuerySet[EnsembleLifecycle]) -> HttpResponse | None:
        form = admin_forms.RollbackForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            for view in sorted(set(queryset.values_list("view", flat=True))):
                try:
                    promotion = ensemble_rollback(view=view, promoted_by=request.user, **form.cleaned_data)
                except ApplicationError as exc:
                    self._report(request, exc)
                else:
                    self.message_user(request, f"View {view}: ensemble {promotion.ensemble_id} is active again.")
            return None
        return admin_forms.render_form_page(
            request, admin_context=self.admin_site.each_context(request), title="Roll back",
            form=form, submit_label="Roll back", objects=list(queryset), action="roll_back",
            intro="Undoes the latest promotion of each selected ensemble's view.",
        )


# --------------------------------------------------------------------------------------------
# Comparisons, promotions, re-prediction jobs
# --------------------------------------------------------------------------------------------
def _number(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _summary_rows(metrics: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(label, candidate, baseline) rows of the comparison table."""
    candidate, baseline = metrics.get("candidate") or {}, metrics.get("baseline") or {}

    def pick(summary: dict[str, Any], *keys: str) -> Any:
        value: Any = summary
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    rows = [("ensemble", _number(pick(candidate, "ensemble")), _number(pick(baseline, "ensemble"))),
            ("trained on evaluated images", _number(pick(candidate, "trained_on_evaluated_images")),
             _number(pick(baseline, "trained_on_evaluated_images")))]
    for bone in ("femur", "tibia"):
        rows.append((f"{bone} IOU pooled", _number(pick(candidate, "pooled_iou", bone)),
                     _number(pick(baseline, "pooled_iou", bone))))
        rows.append((f"{bone} IOU mean per image", _number(pick(candidate, "mean_iou", bone)),
                     _number(pick(baseline, "mean_iou", bone))))
    for key, label in (("error_px_mean", "joint error mean (px)"), ("error_px_median", "joint error median (px)"),
                       ("ned_median", "joint NED median"), ("missed_legs", "legs not found")):
        rows.append((label, _number(pick(candidate, "keypoints", key)), _number(pick(baseline, "keypoints", key))))
    names = ordered_metric_names([*(pick(candidate, "angles") or {}), *(pick(baseline, "angles") or {})])
    for name in names:
        for stat, label in (("mae", "MAE"), ("bias", "bias")):
            rows.append((f"{name} {label}", _number(pick(candidate, "angles", name, stat)),
                         _number(pick(baseline, "angles", name, stat))))
        rows.append((f"{name} 95% limits", _limits(pick(candidate, "angles", name)),
                     _limits(pick(baseline, "angles", name))))
    return rows


def _limits(stats: Any) -> str:
    if not isinstance(stats, dict) or stats.get("loa_low") is None:
        return "–"
    return f"[{stats['loa_low']:.2f}, {stats['loa_high']:.2f}] (n={stats['n']})"


@admin.register(EnsembleComparison)
class EnsembleComparisonAdmin(_AdminRoleMixin, _ReadOnlyAdmin):
    list_display = ["id", "candidate", "baseline", "dataset_snapshot", "status", "progress", "created_at"]
    list_filter = ["status"]
    readonly_fields = ["candidate", "baseline", "dataset_snapshot", "status", "progress", "results", "bland_altman",
                       "error", "created_by", "created_at", "finished_at", "metrics"]

    @admin.display(description="Results (candidate | baseline)")
    def results(self, comparison: EnsembleComparison) -> SafeString | str:
        if not comparison.metrics:
            return "Not finished yet."
        body = format_html_join("", "<tr><th>{}</th><td>{}</td><td>{}</td></tr>", _summary_rows(comparison.metrics))
        return format_html('<table><tr><th></th><th>candidate</th><th>baseline</th></tr>{}</table>', body)

    @admin.display(description="Bland–Altman plots")
    def bland_altman(self, comparison: EnsembleComparison) -> SafeString | str:
        charts = bland_altman_svgs(comparison.metrics) if comparison.metrics else {}
        if not charts:
            return "No angle could be compared yet."
        return mark_safe("".join(f"<div>{svg}</div>" for svg in charts.values()))  # noqa: S308 - escaped by plots

    def get_urls(self) -> list[URLPattern]:
        return [path("<int:comparison_id>/promote/", self._admin_only(self.promote_view),
                     name="training_ensemblecomparison_promote"), *super().get_urls()]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        comparison = self.get_object(request, object_id)
        can_promote = (comparison is not None and comparison.status == RunStatus.SUCCEEDED
                       and comparison.candidate.status != VersionStatus.ACTIVE and has_role(request.user, Role.ADMIN))
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "can_promote": can_promote})

    def promote_view(self, request: HttpRequest, comparison_id: int) -> HttpResponse:
        comparison = get_object_or_404(EnsembleComparison.objects.select_related("candidate"), pk=comparison_id)
        form = admin_forms.PromoteForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            if self._promote(request, ensemble=comparison.candidate, options=form.cleaned_data,
                             comparison=comparison):
                return HttpResponseRedirect(reverse("admin:training_ensemblepromotion_changelist"))
        return admin_forms.render_form_page(
            request, admin_context=self.admin_site.each_context(request),
            title=f"Promote ensemble {comparison.candidate_id}", form=form, submit_label="Promote",
            objects=[comparison.candidate], intro=f"Recorded with comparison {comparison.pk}.",
        )


@admin.register(EnsemblePromotion)
class EnsemblePromotionAdmin(_ReadOnlyAdmin):
    list_display = ["id", "kind", "ensemble", "previous_active", "promoted_by", "promoted_at", "reason"]
    readonly_fields = ["ensemble", "previous_active", "comparison", "rollback_of", "promoted_by", "promoted_at",
                       "reason"]

    @admin.display(description="Kind")
    def kind(self, promotion: EnsemblePromotion) -> str:
        return "rollback" if promotion.rollback_of_id else "promotion"


@admin.register(SamPromotion)
class SamPromotionAdmin(_AdminRoleMixin, _ReadOnlyAdmin):
    list_display = ["id", "kind", "weights", "training_run", "previous", "sha256", "promoted_by", "promoted_at",
                    "reason"]
    readonly_fields = ["weights", "training_run", "previous", "sha256", "rollback_of", "promoted_by", "promoted_at",
                       "reason"]
    actions = ["roll_back"]

    @admin.display(description="Kind")
    def kind(self, promotion: SamPromotion) -> str:
        return "rollback" if promotion.rollback_of_id else "promotion"

    @admin.display(description="Tuning run")
    def training_run(self, promotion: SamPromotion) -> SafeString | str:
        run_id = promotion.weights.training_run_id if promotion.weights is not None else None
        if run_id is None:
            return "– (shipped file)" if promotion.weights is None else "–"
        return format_html('<a href="{}">{}</a>', reverse("admin:training_trainingrun_change", args=[run_id]), run_id)

    @admin.action(description="Roll back the latest SAM promotion…", permissions=["admin_role"])
    def roll_back(self, request: HttpRequest, queryset: QuerySet[SamPromotion]) -> HttpResponse | None:
        form = admin_forms.RollbackForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._sam_rollback(request, form.cleaned_data)
            return None
        return admin_forms.render_form_page(
            request, admin_context=self.admin_site.each_context(request), title="Roll back the SAM weights",
            form=form, submit_label="Roll back", objects=list(queryset), action="roll_back",
            intro="Undoes the latest SAM promotion still in force, whichever rows are selected.",
        )


@admin.register(RepredictJob)
class RepredictJobAdmin(_ReadOnlyAdmin):
    list_display = ["id", "ensemble", "status", "total", "done", "failed", "skipped", "created_at", "finished_at"]
    list_filter = ["status"]
    readonly_fields = ["ensemble", "promotion", "include_pending", "image_ids", "status", "total", "done", "failed",
                       "skipped", "error", "created_by", "created_at", "finished_at"]
