from django.urls import path

from clinical import views

app_name = "clinical-ui"

urlpatterns = [
    path("patients/<int:patient_id>/timeline/", views.patient_timeline_page, name="patient-timeline"),
    path("cases/<int:case_id>/report/", views.case_report_page, name="case-report"),
    path("cases/<int:case_id>/report.pdf", views.case_report_pdf, name="case-report-pdf"),
    path("reader-studies/<int:study_id>/", views.reader_study_page, name="reader-study"),
    path("reader-studies/<int:study_id>/read/", views.reader_study_read_page, name="reader-study-read"),
]
