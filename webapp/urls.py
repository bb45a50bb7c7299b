from django.contrib import admin
from django.urls import include, path

from annotator import health, metrics

# JSON under /api/, Django's plain pages elsewhere, when DEBUG is off (with DEBUG on,
# webapp.middleware.ApiErrorMiddleware keeps /api/ on JSON).
handler400 = "annotator.api.errors.bad_request"
handler403 = "annotator.api.errors.permission_denied"
handler404 = "annotator.api.errors.not_found"
handler500 = "annotator.api.errors.server_error"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include("annotator.api.urls")),
    path("", include("annotator.urls")),
]
