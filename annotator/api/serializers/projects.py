"""Projects, their labels and members, and the SAM model a project uses."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotator.models import Label, Membership, Project, Role, SamModel


class LabelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Label
        fields = ["id", "name", "color"]


class SamModelSerializer(serializers.Serializer):
    checkpoint = serializers.CharField()
    sha256 = serializers.CharField(allow_blank=True)
    onnx_status = serializers.CharField()
    manifest_url = serializers.SerializerMethodField()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_manifest_url(self, obj: Any) -> str | None:
        if not obj.sha256:
            return None
        return reverse("api-model-manifest", kwargs={"sha256": obj.sha256})


class ProjectSerializer(serializers.ModelSerializer):
    labels = LabelSerializer(many=True, read_only=True)
    sam_model = SamModelSerializer(read_only=True)
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", "name", "description", "labels", "sam_model", "role", "created_at"]

    @extend_schema_field(serializers.ChoiceField(choices=Role.choices, allow_null=True))
    def get_role(self, obj: Project) -> str | None:
        roles = self.context.get("roles", {})
        return roles.get(obj.pk)


class LabelInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    color = serializers.CharField(max_length=7, default="#ff0000")


# annotator.sam.KNOWN_CHECKPOINTS' names, repeated because the web process never imports torch
# (tests/security/test_hostile_inputs.py keeps the two equal).
KNOWN_CHECKPOINT_NAMES = ("mobile_sam", "sam_vit_b", "sam_vit_h", "sam_vit_l")


# Bounds on what a project carries, so one request cannot store megabytes or run thousands of
# inserts (LVIS, among the largest vocabularies, has 1203 categories).
MAX_DESCRIPTION = 100_000
MAX_LABELS = 2_000


class ProjectCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True, default="", max_length=MAX_DESCRIPTION)
    labels = LabelInputSerializer(many=True, required=False, max_length=MAX_LABELS)
    sam_checkpoint = serializers.CharField(
        max_length=500,
        required=False,
        help_text=(
            "a known checkpoint name, the SAM_CHECKPOINT setting, or a checkpoint an "
            "administrator registered (a SAM model in /admin/)"
        ),
    )

    def validate_sam_checkpoint(self, value: str) -> str:
        # The workers load whatever path this names. A path chosen by any API caller would let
        # them point the workers at arbitrary files (a planted pickle, /etc/shadow); paths are
        # an administrator's decision, made in the admin.
        if value in KNOWN_CHECKPOINT_NAMES or value == settings.SAM_CHECKPOINT:
            return value
        if SamModel.objects.filter(checkpoint=value).exists():
            return value
        raise serializers.ValidationError(
            f"Unknown checkpoint {value!r}: give one of {', '.join(KNOWN_CHECKPOINT_NAMES)} or a "
            "checkpoint an administrator registered in the admin (SAM models)."
        )


class ProjectUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(
        allow_blank=True, required=False, max_length=MAX_DESCRIPTION
    )


class LabelUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    color = serializers.CharField(max_length=7, required=False)


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "username", "role", "created_at"]
        read_only_fields = ["id", "user", "username", "created_at"]


class MembershipWriteSerializer(serializers.Serializer):
    user = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.all(), required=False
    )
    username = serializers.CharField(required=False)
    role = serializers.ChoiceField(choices=Role.choices)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "user" not in attrs:
            if "username" not in attrs:
                raise serializers.ValidationError("Give user (an id) or username.")
            user = get_user_model().objects.filter(username=attrs["username"]).first()
            if user is None:
                raise serializers.ValidationError(f"No user named {attrs['username']!r}.")
            attrs["user"] = user
        return attrs


class MembershipRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)
