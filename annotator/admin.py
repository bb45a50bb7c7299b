"""Django admin: projects with members and labels inline; images with thumbnails, status,
embedding status and filters, and bulk actions (compute embeddings, assign, export, delete
with annotations). Actions call the services, like the API does."""

from __future__ import annotations

import io
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.html import format_html
from PIL import Image as PILImage

from annotator import selectors, services
from annotator.models import (
    Annotation,
    Embedding,
    Image,
    Job,
    Label,
    Membership,
    Project,
    SamModel,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


class LabelInline(admin.TabularInline):
    model = Label
    extra = 1


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "sam_model", "image_count", "created_by", "created_at"]
    search_fields = ["name", "description"]
    inlines = [MembershipInline, LabelInline]
    readonly_fields = ["created_by", "created_at"]

    @admin.display(description="images")
    def image_count(self, obj: Project) -> int:
        return obj.images.count()

    def save_model(self, request: HttpRequest, obj: Project, form: Any, change: bool) -> None:
        if not change and obj.created_by_id is None:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)


class EmbeddingStatusFilter(admin.SimpleListFilter):
    title = "embedding status"
    parameter_name = "embedding"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(*choice,) for choice in Embedding.Status.choices] + [("none", "None")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Image]) -> QuerySet[Image]:
        value = self.value()
        if value == "none":
            return queryset.exclude(embeddings__isnull=False)
        if value:
            return queryset.filter(embeddings__status=value).distinct()
        return queryset


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(queryset=get_user_model().objects.all(), required=False)


# --- Upload: the admin's "Add image" -------------------------------------------------------------


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field (Django's documented recipe): a list of uploaded files."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(widget=MultipleFileInput(), **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, list | tuple) else [data]
        # None for no file at all, so that the field's "required" check speaks.
        return [super(MultipleFileField, self).clean(f, initial) for f in files or [None]]


class ImageUploadForm(forms.Form):
    project = forms.ModelChoiceField(queryset=Project.objects.all())
    files = MultipleFileField(help_text="images and zip archives of images")


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = [
        "thumbnail", "original_name", "project", "width", "height", "status", "assignee",
        "embedding_status", "created_at",
    ]  # fmt: skip
    list_filter = ["project", "status", "assignee", EmbeddingStatusFilter]
    search_fields = ["original_name", "sha256"]
    readonly_fields = ["thumbnail_large", "sha256", "width", "height", "uploaded_by", "created_at"]
    actions = [
        "compute_embeddings",
        "compute_atlases",
        "assign",
        "export_coco",
        "delete_with_annotations",
    ]
    list_select_related = ["project", "assignee"]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # The stock delete skips the service (stored files and annotations' protected labels).
        actions.pop("delete_selected", None)
        return actions

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """An upload through services.image_import, as the API's POST does (validation,
        normalisation, the sha256 duplicate check, embeddings queued): a model form here would
        write an Image row around all of that."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        posted = request.method == "POST"
        form = ImageUploadForm(request.POST, request.FILES) if posted else ImageUploadForm()
        if posted and form.is_valid():
            project = form.cleaned_data["project"]
            try:
                images = services.image_import(
                    project=project,
                    files=form.cleaned_data["files"],
                    uploaded_by=request.user,
                )
            except services.ServiceError as exc:
                self.message_user(request, f"Nothing was uploaded: {exc}", messages.ERROR)
            else:
                self.message_user(
                    request, f"Uploaded {len(images)} image(s) to {project}.", messages.SUCCESS
                )
                changelist = reverse("admin:annotator_image_changelist")
                return HttpResponseRedirect(f"{changelist}?project__id__exact={project.pk}")
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "opts": self.model._meta,
            "title": "Upload images",
            **(extra_context or {}),
        }
        return render(request, "admin/annotator/image/upload.html", context)

    def get_urls(self) -> list[Any]:
        thumbnail = self.admin_site.admin_view(self.thumbnail_view)
        return [
            path("<int:pk>/thumbnail/<int:size>/", thumbnail, name="annotator_image_thumbnail"),
            *super().get_urls(),
        ]

    def thumbnail_view(self, request: HttpRequest, pk: int, size: int) -> HttpResponse:
        """A small JPEG for the admin pages. Admins need not be project members, so the API's
        file endpoint (members only) is not theirs to use; the view permission is checked here."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        image = get_object_or_404(Image, pk=pk)
        size = max(16, min(size, 1024))
        with image.file.open("rb") as f, PILImage.open(f) as pil:
            pil.thumbnail((size, size))
            out = io.BytesIO()
            pil.convert("RGB").save(out, format="JPEG", quality=80)
        response = HttpResponse(out.getvalue(), content_type="image/jpeg")
        response["Cache-Control"] = "private, max-age=86400"
        return response

    def _img(self, obj: Image, size: int) -> str:
        url = reverse("admin:annotator_image_thumbnail", kwargs={"pk": obj.pk, "size": size})
        return format_html(
            '<img src="{}" style="max-width:{}px;max-height:{}px" loading="lazy" alt="">',
            url, size, size,
        )  # fmt: skip

    @admin.display(description="image")
    def thumbnail(self, obj: Image) -> str:
        return self._img(obj, 64)

    @admin.display(description="preview")
    def thumbnail_large(self, obj: Image) -> str:
        return self._img(obj, 480)

    @admin.display(description="embedding")
    def embedding_status(self, obj: Image) -> str:
        row = selectors.embedding_for_image(image=obj)
        if row is None:
            return "-"
        return f"{row.status}: {row.error[:80]}" if row.error else row.status

    @admin.action(description="Compute hover atlases (again)")
    def compute_atlases(self, request: HttpRequest, queryset: QuerySet[Image]) -> None:
        ids = [
            row.pk
            for image in queryset.select_related("project")
            if (row := selectors.embedding_for_image(image=image)) and row.status == "ready"
        ]
        if not services.atlas_enqueue(embedding_ids=ids, force=True):
            self.message_user(request, "The task queue is unavailable; try again.", messages.ERROR)
            return
        self.message_user(request, f"Enqueued {len(ids)} hover atlas(es).", messages.SUCCESS)

    @admin.action(description="Compute embeddings (again)")
    def compute_embeddings(self, request: HttpRequest, queryset: QuerySet[Image]) -> None:
        rows = services.embedding_request(images=list(queryset), force=True)
        self.message_user(request, f"Enqueued {len(rows)} embedding(s).", messages.SUCCESS)

    @admin.action(description="Assign to an annotator")
    def assign(self, request: HttpRequest, queryset: QuerySet[Image]) -> HttpResponse | None:
        if "apply" in request.POST:
            form = AssignForm(request.POST)
            if form.is_valid():
                try:
                    count = services.image_assign(
                        images=queryset, assignee=form.cleaned_data["assignee"]
                    )
                except services.ServiceError as exc:
                    self.message_user(request, str(exc), messages.ERROR)
                    return None
                self.message_user(request, f"Assigned {count} image(s).", messages.SUCCESS)
                return None
        context = {
            **self.admin_site.each_context(request),
            "form": AssignForm(),
            "images": queryset,
            "action": "assign",
            "title": "Assign images",
        }
        return render(request, "admin/annotator/image/assign.html", context)

    @admin.action(description="Export as COCO (one job per project)")
    def export_coco(self, request: HttpRequest, queryset: QuerySet[Image]) -> None:
        by_project: dict[int, list[int]] = {}
        for image in queryset:
            by_project.setdefault(image.project_id, []).append(image.pk)
        for project_id, ids in by_project.items():
            try:
                job = services.job_create(
                    project=selectors.project_get(pk=project_id),
                    kind=Job.Kind.EXPORT,
                    created_by=request.user,  # type: ignore[arg-type]
                    params={"format": "coco", "image_ids": ids},
                )
            except services.ServiceError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return
            self.message_user(request, f"Export job {job.pk} started.", messages.SUCCESS)

    @admin.action(description="Delete with annotations and files")
    def delete_with_annotations(self, request: HttpRequest, queryset: QuerySet[Image]) -> None:
        count = 0
        for image in queryset:
            services.image_delete(image=image)
            count += 1
        self.message_user(request, f"Deleted {count} image(s).", messages.SUCCESS)


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ["id", "image", "label", "kind", "source", "area", "version", "updated_by",
                    "updated_at"]  # fmt: skip
    list_filter = ["kind", "source", "label__project"]
    raw_id_fields = ["image", "label", "created_by", "updated_by"]


@admin.register(Embedding)
class EmbeddingAdmin(admin.ModelAdmin):
    list_display = ["image", "sam_model", "status", "attempts", "compute_seconds", "updated_at"]
    list_filter = ["status", "sam_model"]
    readonly_fields = ["error"]
    raw_id_fields = ["image"]


@admin.register(SamModel)
class SamModelAdmin(admin.ModelAdmin):
    list_display = ["checkpoint", "model_type", "sha256", "onnx_status"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "kind", "status", "done", "total", "created_at"]
    list_filter = ["kind", "status"]
