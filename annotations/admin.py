from django.contrib import admin, messages
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.html import format_html

from annotations.models import AnnotationRevision, Case, Image, Patient, ReviewEvent, ReviewItem


def _start_sam_drafts(modeladmin: admin.ModelAdmin, request, image_ids: list[int]) -> None:  # noqa: ANN001
    """One batch SAM pre-labelling job for ``image_ids`` (images with a revision are skipped by the job)."""
    from enllasd_web.exceptions import ApplicationError
    from inference.sam_services import prelabel_job_start

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


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = ["code", "cohort", "birth_year", "sex", "created_at"]
    list_filter = ["cohort", "sex"]
    search_fields = ["code"]


class ImageInline(admin.TabularInline):
    model = Image
    fields = ["original_name", "width", "height", "format", "derivative_status", "head_revision"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ["patient", "acquisition_date", "view", "created_at"]
    list_filter = ["view", "patient__cohort"]
    search_fields = ["patient__code"]
    inlines = [ImageInline]
    actions = [draft_cases_with_sam]


class RevisionInline(admin.TabularInline):
    model = AnnotationRevision
    fk_name = "image"
    fields = ["number", "source", "author", "created_at", "message"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["original_name", "case", "format", "width", "height", "spacing_source", "derivative_status"]
    list_filter = ["format", "spacing_source", "derivative_status"]
    search_fields = ["original_name", "sha256", "case__patient__code"]
    readonly_fields = [
        "uid", "sha256", "size_bytes", "format", "width", "height", "bit_depth", "photometric", "original",
        "original_name", "original_suffix", "dicom_metadata", "source_pseudonym", "display", "thumbnail",
        "derivative_status", "derivative_error", "head_revision", "uploaded_by", "preview",
    ]
    inlines = [RevisionInline]
    actions = [draft_images_with_sam]

    @admin.display(description="Preview")
    def preview(self, image: Image) -> str:
        return format_html('<img src="/api/images/{}/thumbnail/" style="max-height:256px">', image.pk)


@admin.register(AnnotationRevision)
class AnnotationRevisionAdmin(admin.ModelAdmin):
    list_display = ["image", "number", "source", "author", "created_at"]
    list_filter = ["source"]
    search_fields = ["image__original_name"]
    readonly_fields = [f.name for f in AnnotationRevision._meta.fields]

    def has_change_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False  # revisions are immutable

    def has_delete_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False


@admin.register(ReviewItem)
class ReviewItemAdmin(admin.ModelAdmin):
    list_display = ["id", "image", "status", "priority", "assignee", "decided_by", "decided_at", "created_at"]
    list_filter = ["status"]
    ordering = ["-priority", "created_at"]
    search_fields = ["image__original_name", "image__case__patient__code"]
    readonly_fields = [f.name for f in ReviewItem._meta.fields]

    def has_add_permission(self, request) -> bool:  # noqa: ANN001
        return False  # items come from predictions; decisions go through the review API (they add events)


@admin.register(ReviewEvent)
class ReviewEventAdmin(admin.ModelAdmin):
    list_display = ["item", "image", "action", "actor", "created_at"]
    list_filter = ["action"]
    search_fields = ["image__original_name", "reason"]
    readonly_fields = [f.name for f in ReviewEvent._meta.fields]

    def has_add_permission(self, request) -> bool:  # noqa: ANN001
        return False  # events are written by the review services only

    def has_change_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False  # append-only history

    def has_delete_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False
