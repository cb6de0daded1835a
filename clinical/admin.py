"""Admin pages: reader studies (created here or through the API), readings and calibrations read-only.

Access follows the app roles (``enllasd_web.roles``) rather than per-model permissions, so the
``admin`` group needs no extra permission rows: admins manage studies; calibrations and readings
are append-only records and cannot be changed here.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from clinical.models import ImageCalibration, ReaderStudy, ReaderStudyReading, ReaderStudyStatus
from clinical.services import reader_study_validate_readers
from enllasd_web.exceptions import InvalidInput
from enllasd_web.roles import Role, has_role


class _AdminRoleMixin:
    """Model admin open to users with the app's admin role (and staff status)."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return has_role(request.user, Role.ADMIN)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_role(request.user, Role.ADMIN)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_role(request.user, Role.ADMIN)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_role(request.user, Role.ADMIN)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class _ReadOnlyMixin(_AdminRoleMixin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReaderStudyForm(forms.ModelForm):
    class Meta:
        model = ReaderStudy
        fields = ["name", "description", "images", "readers", "include_model", "status"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        readers = cleaned.get("readers")
        if readers is not None:
            try:
                reader_study_validate_readers(list(readers))
            except InvalidInput as exc:
                self.add_error("readers", exc.message)
        return cleaned


class ReadingInline(_ReadOnlyMixin, admin.TabularInline):
    model = ReaderStudyReading
    fields = ["image", "reader", "created_at", "alignment_error"]
    readonly_fields = fields
    extra = 0


@admin.register(ReaderStudy)
class ReaderStudyAdmin(_AdminRoleMixin, admin.ModelAdmin):
    form = ReaderStudyForm
    list_display = ["name", "status", "include_model", "created_by", "created_at"]
    list_filter = ["status"]
    filter_horizontal = ["images", "readers"]
    inlines = [ReadingInline]
    actions = ["close_studies"]

    def save_model(self, request: HttpRequest, obj: ReaderStudy, form: forms.ModelForm, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description="Close the selected studies (no more readings; results visible to all admins)")
    def close_studies(self, request: HttpRequest, queryset: QuerySet[ReaderStudy]) -> None:
        count = queryset.update(status=ReaderStudyStatus.CLOSED)
        self.message_user(request, f"{count} studies closed.", messages.SUCCESS)


@admin.register(ImageCalibration)
class ImageCalibrationAdmin(_ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["image", "method", "known_length_mm", "pixel_spacing_mm", "previous_spacing_source", "user",
                    "created_at"]
    list_filter = ["method"]
    search_fields = ["image__original_name", "image__case__patient__code"]
