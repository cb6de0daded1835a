from django.urls import path

from inference import apis, apis_sam

app_name = "inference"

urlpatterns = [
    path("images/<int:image_id>/predict/", apis.PredictionRequestApi.as_view(), name="prediction-request"),
    path("images/<int:image_id>/predictions/", apis.PredictionListApi.as_view(), name="prediction-list"),
    path("predictions/<int:prediction_id>/", apis.PredictionDetailApi.as_view(), name="prediction-detail"),
    path("sam/models/", apis_sam.SamModelListApi.as_view(), name="sam-model-list"),
    path("images/<int:image_id>/sam/", apis_sam.SamDecodeApi.as_view(), name="sam-decode"),
    path("sam/prelabel/", apis_sam.PrelabelJobStartApi.as_view(), name="sam-prelabel-start"),
    path("sam/prelabel/<int:job_id>/", apis_sam.PrelabelJobDetailApi.as_view(), name="sam-prelabel-detail"),
]
