"""The dataset page's bulk actions: one action on every image a filter (and optionally a
selection) matches, decided on the server from the same parameters as the list."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from annotator.api.serializers.fields import IdField
from annotator.api.serializers.images import ImageFilterSerializer
from annotator.api.serializers.jobs import ExportCreateSerializer
from annotator.services.dataset import BULK_MAX_IMAGES


class ImageBulkSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["assign", "recompute", "delete", "export"])
    filters = ImageFilterSerializer(
        required=False,
        help_text="the list's filters (status, assignee, unassigned, label, embedding, search); "
        "{} is every image of the project. ordering is ignored",
    )
    image_ids = serializers.ListField(
        child=IdField(), required=False, max_length=BULK_MAX_IMAGES,
        help_text="a selection: only these images (still narrowed by filters)",
    )  # fmt: skip
    assignees = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1, allow_null=True),
        required=False, min_length=1, max_length=1000,
        help_text="assign: one user id (or null: nobody), or several for round-robin in upload "
        "order",
    )  # fmt: skip
    export = ExportCreateSerializer(required=False, help_text="export: the export's options")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # No default scope: "every image" must be asked for ({} as filters), never implied.
        if "filters" not in attrs and "image_ids" not in attrs:
            raise serializers.ValidationError("Give filters ({} for every image) or image_ids.")
        if attrs["action"] == "assign" and not attrs.get("assignees"):
            raise serializers.ValidationError("assign needs assignees (a list of user ids).")
        return attrs


class ImageBulkResultSerializer(serializers.Serializer):
    action = serializers.CharField()
    matched = serializers.IntegerField()
    assigned = serializers.DictField(child=serializers.IntegerField(), required=False)
    enqueued = serializers.IntegerField(required=False)
    deleted = serializers.IntegerField(required=False)
    job = serializers.IntegerField(required=False, help_text="export: the job's id")
