from django.contrib import admin
from django.utils.html import format_html

from annotations.models import AnnotationRevision, Case, Image, Patient, ReviewEvent, ReviewItem


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
