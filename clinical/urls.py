from django.urls import path

from clinical import apis

app_name = "clinical"

urlpatterns = [
    path("images/<int:image_id>/calibration/", apis.ImageCalibrationApi.as_view(), name="image-calibration"),
    path("patients/<int:patient_id>/timeline/", apis.PatientTimelineApi.as_view(), name="patient-timeline"),
    path("patients/<int:patient_id>/timeline.csv", apis.PatientTimelineCsvApi.as_view(), name="patient-timeline-csv"),
    path("reports/metrics.csv", apis.MetricsCsvApi.as_view(), name="metrics-csv"),
    path("reader-studies/", apis.ReaderStudyListApi.as_view(), name="reader-study-list"),
    path("reader-studies/create/", apis.ReaderStudyCreateApi.as_view(), name="reader-study-create"),
    path("reader-studies/<int:study_id>/tasks/", apis.ReaderStudyTasksApi.as_view(), name="reader-study-tasks"),
    path("reader-studies/<int:study_id>/readings/", apis.ReaderStudyReadingCreateApi.as_view(),
         name="reader-study-reading-create"),
    path("reader-studies/<int:study_id>/results/", apis.ReaderStudyResultsApi.as_view(), name="reader-study-results"),
]
