"""The pages a person sees; the JSON API lives in annotator/api/."""

from django.urls import path

from annotator import pages

app_name = "annotator"

urlpatterns = [
    path("", pages.projects, name="projects"),
    path("projects/new/", pages.project_new, name="project-new"),
    path("projects/<int:pk>/", pages.images, name="images"),
    # The manage area (managers and owners): each page is a shell over the REST API.
    path("projects/<int:pk>/settings/", pages.project_settings, name="project-settings"),
    path("projects/<int:pk>/people/", pages.project_people, name="project-people"),
    path("projects/<int:pk>/dataset/", pages.project_dataset, name="project-dataset"),
    path("projects/<int:pk>/jobs/", pages.project_jobs, name="project-jobs"),
    path("projects/<int:pk>/dashboard/", pages.project_dashboard, name="project-dashboard"),
    path("images/<int:pk>/annotate/", pages.annotate, name="annotate"),
    path("status/", pages.status, name="status"),
]
