from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token

# The ``annotations`` API namespace is served by two layers: annotations (patients, cases, images, revisions,
# LabelMe) and, above inference and clinical, the review queue (docs/architecture.md, "Layers").
annotations_api = ([path("", include("annotations.urls")), path("", include("review.urls"))], "annotations")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Every user changes their own password here (the admin site's page is for staff only); admins set anyone's
    # from the user's page in the admin (Users -> the user -> "this form").
    path("accounts/password/", auth_views.PasswordChangeView.as_view(template_name="accounts/password_change.html"),
         name="password_change"),
    path("accounts/password/done/",
         auth_views.PasswordChangeDoneView.as_view(template_name="accounts/password_changed.html"),
         name="password_change_done"),
    path("api/auth/token/", obtain_auth_token, name="api-token"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include(annotations_api)),
    path("api/", include("inference.urls")),
    path("api/", include("training.urls")),
    path("api/", include("clinical.urls")),
    path("api/", include("audit.urls")),
    path("", include("review.ui_urls")),
    path("", include("clinical.ui_urls")),
]
