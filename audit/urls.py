from django.urls import path

from audit import apis

app_name = "audit"

urlpatterns = [
    path("audit/", apis.AuditEventListApi.as_view(), name="event-list"),
]
