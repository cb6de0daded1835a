from django.urls import path

from review import apis

# Part of the ``annotations`` URL namespace (see enllasd_web/urls.py): the names and paths the review queue
# has always had (``annotations:review-item-list``, ``/api/review/items/``, ...).
urlpatterns = [
    path("review/items/", apis.ReviewItemListApi.as_view(), name="review-item-list"),
    path("review/items/<int:item_id>/", apis.ReviewItemDetailApi.as_view(), name="review-item-detail"),
    path("review/items/<int:item_id>/accept/", apis.ReviewItemAcceptApi.as_view(), name="review-item-accept"),
    path("review/items/<int:item_id>/checks/", apis.ReviewItemChecksApi.as_view(), name="review-item-checks"),
    path("review/items/<int:item_id>/correct/", apis.ReviewItemCorrectApi.as_view(),
         name="review-item-correct"),
    path("review/items/<int:item_id>/reject/", apis.ReviewItemRejectApi.as_view(), name="review-item-reject"),
    path("review/items/<int:item_id>/reopen/", apis.ReviewItemReopenApi.as_view(), name="review-item-reopen"),
    path("review/items/<int:item_id>/assign/", apis.ReviewItemAssignApi.as_view(), name="review-item-assign"),
    path("images/<int:image_id>/review-events/", apis.ImageReviewEventListApi.as_view(),
         name="image-review-events"),
    path("align/", apis.AlignApi.as_view(), name="align"),
]
