from django.urls import path

from inference import apis

app_name = "inference"

urlpatterns = [
    path("images/<int:image_id>/predict/", apis.PredictionRequestApi.as_view(), name="prediction-request"),
    path("images/<int:image_id>/predictions/", apis.PredictionListApi.as_view(), name="prediction-list"),
    path("predictions/<int:prediction_id>/", apis.PredictionDetailApi.as_view(), name="prediction-detail"),
]
