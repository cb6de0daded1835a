from django.urls import path

from training import apis

app_name = "training"

urlpatterns = [
    path("training-runs/", apis.TrainingRunListApi.as_view(), name="run-list"),
    path("training-runs/start/", apis.TrainingRunStartApi.as_view(), name="run-start"),
    path("training-runs/<uuid:run_id>/", apis.TrainingRunDetailApi.as_view(), name="run-detail"),
    path("training-runs/<uuid:run_id>/cancel/", apis.TrainingRunCancelApi.as_view(), name="run-cancel"),
]
