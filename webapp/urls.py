from django.contrib import admin
from django.urls import include, path

from annotator import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include("annotator.api.urls")),
    path("", include("annotator.urls")),
]
