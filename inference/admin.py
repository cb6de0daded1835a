from django.contrib import admin

from inference.models import EnsembleVersion, ModelVersion, PrelabelJob, PrelabelStatus, Prediction


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
        from inference.sam_services import prelabel_job_cancel

        cancelled = sum(prelabel_job_cancel(job=job).status == PrelabelStatus.CANCELLED for job in queryset)
        self.message_user(request, f"{cancelled} job(s) cancelled; running ones stop after their current image.")
