from django.urls import path

from annotations import apis, apis_review

app_name = "annotations"

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
    path("review/items/", apis_review.ReviewItemListApi.as_view(), name="review-item-list"),
    path("review/items/<int:item_id>/", apis_review.ReviewItemDetailApi.as_view(), name="review-item-detail"),
    path("review/items/<int:item_id>/accept/", apis_review.ReviewItemAcceptApi.as_view(), name="review-item-accept"),
    path("review/items/<int:item_id>/checks/", apis_review.ReviewItemChecksApi.as_view(), name="review-item-checks"),
    path("review/items/<int:item_id>/correct/", apis_review.ReviewItemCorrectApi.as_view(),
         name="review-item-correct"),
    path("review/items/<int:item_id>/reject/", apis_review.ReviewItemRejectApi.as_view(), name="review-item-reject"),
    path("review/items/<int:item_id>/reopen/", apis_review.ReviewItemReopenApi.as_view(), name="review-item-reopen"),
    path("review/items/<int:item_id>/assign/", apis_review.ReviewItemAssignApi.as_view(), name="review-item-assign"),
    path("images/<int:image_id>/review-events/", apis_review.ImageReviewEventListApi.as_view(),
         name="image-review-events"),
    path("align/", apis_review.AlignApi.as_view(), name="align"),
]
