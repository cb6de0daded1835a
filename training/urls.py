from django.urls import path

from training import apis, ensemble_apis, sam_apis, snapshot_apis

app_name = "training"

urlpatterns = [
    path("training-runs/", apis.TrainingRunListApi.as_view(), name="run-list"),
    path("training-runs/start/", apis.TrainingRunStartApi.as_view(), name="run-start"),
    path("training-runs/<uuid:run_id>/", apis.TrainingRunDetailApi.as_view(), name="run-detail"),
    path("training-runs/<uuid:run_id>/cancel/", apis.TrainingRunCancelApi.as_view(), name="run-cancel"),
    path("datasets/", snapshot_apis.DatasetSnapshotCollectionApi.as_view(), name="snapshot-collection"),
    path("datasets/<int:snapshot_id>/", snapshot_apis.DatasetSnapshotDetailApi.as_view(), name="snapshot-detail"),
    path("datasets/<int:snapshot_id>/export/", snapshot_apis.DatasetSnapshotExportApi.as_view(),
         name="snapshot-export"),
    path("ensembles/", ensemble_apis.EnsembleListApi.as_view(), name="ensemble-list"),
    path("ensembles/rollback/", ensemble_apis.EnsembleRollbackApi.as_view(), name="ensemble-rollback"),
    path("ensembles/<int:ensemble_id>/compare/", ensemble_apis.EnsembleCompareApi.as_view(), name="ensemble-compare"),
    path("ensembles/<int:ensemble_id>/promote/", ensemble_apis.EnsemblePromoteApi.as_view(), name="ensemble-promote"),
    path("comparisons/<int:comparison_id>/", ensemble_apis.EnsembleComparisonDetailApi.as_view(),
         name="comparison-detail"),
    path("repredict-jobs/<int:repredict_job_id>/", ensemble_apis.RepredictJobDetailApi.as_view(),
         name="repredict-job-detail"),
    path("sam/tuning-runs/", sam_apis.SamTuningRunCollectionApi.as_view(), name="sam-tuning-run-collection"),
    path("sam/tuning-runs/<uuid:run_id>/", sam_apis.SamTuningRunDetailApi.as_view(), name="sam-tuning-run-detail"),
    path("sam/tuning-runs/<uuid:run_id>/promote/", sam_apis.SamTuningRunPromoteApi.as_view(),
         name="sam-tuning-run-promote"),
    path("sam/rollback/", sam_apis.SamRollbackApi.as_view(), name="sam-rollback"),
    path("sam/promotions/", sam_apis.SamPromotionListApi.as_view(), name="sam-promotion-list"),
    path("predictions/<int:prediction_id>/lineage/", ensemble_apis.PredictionLineageApi.as_view(),
         name="prediction-lineage"),
]
