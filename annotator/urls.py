"""The pages a person sees; the JSON API lives in annotator/api/."""

from django.urls import path

from annotator import pages

app_name = "annotator"

urlpatterns = [
    path("", pages.projects, name="projects"),
    path("projects/<int:pk>/", pages.images, name="images"),
    path("images/<int:pk>/annotate/", pages.annotate, name="annotate"),
    path("status/", pages.status, name="status"),
]
