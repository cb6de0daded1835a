from django.urls import path

from annotations import apis

# Part of the ``annotations`` URL namespace, which enllasd_web/urls.py composes from these patterns and the
# review queue's (review/urls.py): one public API, two layers.

urlpatterns = [
    path("patients/", apis.PatientListApi.as_view(), name="patient-list"),
    path("patients/create/", apis.PatientCreateApi.as_view(), name="patient-create"),
    path("cases/", apis.CaseListApi.as_view(), name="case-list"),
    path("cases/create/", apis.CaseCreateApi.as_view(), name="case-create"),
    path("cases/<int:case_id>/", apis.CaseDetailApi.as_view(), name="case-detail"),
    path("cases/<int:case_id>/labelme.zip", apis.CaseLabelMeExportApi.as_view(), name="case-labelme-export"),
    path("images/", apis.ImageListApi.as_view(), name="image-list"),
    path("images/upload/", apis.ImageUploadApi.as_view(), name="image-upload"),
    path("images/<int:image_id>/", apis.ImageDetailApi.as_view(), name="image-detail"),
    path("images/<int:image_id>/display/", apis.ImageDisplayApi.as_view(), name="image-display"),
    path("images/<int:image_id>/thumbnail/", apis.ImageThumbnailApi.as_view(), name="image-thumbnail"),
    path("images/<int:image_id>/labelme/", apis.ImageLabelMeApi.as_view(), name="image-labelme"),
    path("images/<int:image_id>/revisions/", apis.RevisionListApi.as_view(), name="revision-list"),
    path("images/<int:image_id>/revisions/create/", apis.RevisionCreateApi.as_view(), name="revision-create"),
    path("revisions/<int:revision_id>/", apis.RevisionDetailApi.as_view(), name="revision-detail"),
    path("imports/labelme/", apis.LabelMeImportApi.as_view(), name="labelme-import"),
]
