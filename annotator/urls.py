"""The pages a person sees; the JSON API lives in annotator/api/."""

from django.urls import path

from annotator import pages

app_name = "annotator"

urlpatterns = [
    path("status/", pages.status, name="status"),
]
