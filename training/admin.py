from django.contrib import admin

from training.models import TrainingRun


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "config_name", "status", "progress", "created_at", "finished_at"]
    list_filter = ["status", "config_name"]
    readonly_fields = ["id", "progress", "metrics", "fold_assignment", "log", "error", "created_at", "finished_at"]
