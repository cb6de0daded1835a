from django.contrib import admin

from inference.models import EnsembleVersion, ModelVersion, Prediction


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
