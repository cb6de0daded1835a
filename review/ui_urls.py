from django.urls import path

from review import views

app_name = "ui"

urlpatterns = [
    path("", views.case_list_page, name="case-list"),
    path("cases/<int:case_id>/", views.case_detail_page, name="case-detail"),
    path("images/<int:image_id>/", views.image_detail_page, name="image-detail"),
    path("review/", views.review_queue_page, name="review-queue"),
    path("review/<int:item_id>/", views.review_item_page, name="review-item"),
]
