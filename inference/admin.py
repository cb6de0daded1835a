"""Admin of models, ensembles, predictions and SAM pre-labelling jobs; adds the SAM draft actions to the
image and case admin of ``annotations`` (registered there, extended here, above it)."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.html import format_html

from annotations.admin import CaseAdmin, ImageAdmin
from annotations.models import Case, Image
from enllasd_web.exceptions import ApplicationError

from inference.models import EnsembleVersion, ModelVersion, PrelabelJob, PrelabelStatus, Prediction
from inference.sam_services import prelabel_job_cancel, prelabel_job_start


def _start_sam_drafts(modeladmin: admin.ModelAdmin, request, image_ids: list[int]) -> None:  # noqa: ANN001
    """One batch SAM pre-labelling job for ``image_ids`` (images with a revision are skipped by the job)."""
    try:
        job = prelabel_job_start(image_ids=image_ids, user=request.user)
    except ApplicationError as exc:
        modeladmin.message_user(request, f"SAM drafts not started: {exc.message}", level=messages.ERROR)
        return
    link = reverse("admin:inference_prelabeljob_change", args=[job.pk])
    modeladmin.message_user(request, format_html(
        'SAM pre-labelling job <a href="{}">{}</a> queued for {} image{}: it drafts femur and tibia outlines '
        "for those without a revision, prompted by the active ensemble's prediction.", link, job.pk, len(image_ids),
        "" if len(image_ids) == 1 else "s"))


@admin.action(description="Draft femur/tibia outlines with SAM (images without a revision)")
def draft_images_with_sam(modeladmin: admin.ModelAdmin, request, queryset: QuerySet) -> None:  # noqa: ANN001
    _start_sam_drafts(modeladmin, request, list(queryset.order_by("pk").values_list("pk", flat=True)))


@admin.action(description="Draft femur/tibia outlines with SAM for these cases' images without a revision")
def draft_cases_with_sam(modeladmin: admin.ModelAdmin, request, queryset: QuerySet) -> None:  # noqa: ANN001
    ids = list(Image.objects.filter(case__in=queryset).order_by("pk").values_list("pk", flat=True))
    _start_sam_drafts(modeladmin, request, ids)


class SamCaseAdmin(CaseAdmin):
    actions = [*(CaseAdmin.actions or []), draft_cases_with_sam]


class SamImageAdmin(ImageAdmin):
    actions = [*(ImageAdmin.actions or []), draft_images_with_sam]


admin.site.unregister(Case)
admin.site.register(Case, SamCaseAdmin)
admin.site.unregister(Image)
admin.site.register(Image, SamImageAdmin)


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "architecture", "backend", "view", "fold", "status", "created_at"]
    list_filter = ["kind", "status", "view"]
    readonly_fields = ["sha256", "artifact_path", "training_run", "created_at"]


@admin.register(EnsembleVersion)
class EnsembleVersionAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "view", "status", "created_at"]
    list_filter = ["status", "view"]
    filter_horizontal = ["members"]


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = ["id", "image", "ensemble_version", "status", "created_at", "finished_at"]
    list_filter = ["status"]
    readonly_fields = [f.name for f in Prediction._meta.fields]


@admin.register(PrelabelJob)
class PrelabelJobAdmin(admin.ModelAdmin):
    list_display = ["id", "model", "status", "total", "done", "skipped", "failed", "created_by", "created_at",
                    "finished_at"]
    list_filter = ["status", "model"]
    readonly_fields = [f.name for f in PrelabelJob._meta.fields]
    actions = ["cancel_jobs"]

    @admin.action(description="Cancel the selected SAM pre-labelling jobs")
    def cancel_jobs(self, request, queryset):  # noqa: ANN001, ANN201
        cancelled = sum(prelabel_job_cancel(job=job).status == PrelabelStatus.CANCELLED for job in queryset)
        self.message_user(request, f"{cancelled} job(s) cancelled; running ones stop after their current image.")
