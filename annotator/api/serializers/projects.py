"""Projects, their labels and members, and the SAM model a project uses."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotator.api.serializers.shapes import AttributeSerializer
from annotator.models import MAX_DESCRIPTION, MAX_LABELS, Label, Membership, Project, Role, SamModel
from annotator.permissions import CAPABILITIES, Can
from annotator.services.everything import everything_form
from annotator.services.quotas import KNOWN_CHECKPOINT_NAMES


class LabelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Label
        # No `order` field: every list of labels comes in the manager's order.
        fields = ["id", "name", "color", "kind"]


class SamModelSerializer(serializers.Serializer):
    checkpoint = serializers.SerializerMethodField()
    sha256 = serializers.CharField(allow_blank=True)
    onnx_status = serializers.CharField()
    manifest_url = serializers.SerializerMethodField()

    @extend_schema_field(serializers.CharField())
    def get_checkpoint(self, obj: Any) -> str:
        """A known name as is; a file registered by an administrator (or SAM_CHECKPOINT) by its
        file name only: every member reads this, and the server's folders are not theirs to
        see. Staff see the whole path in the admin."""
        checkpoint = str(obj.checkpoint)
        if checkpoint in KNOWN_CHECKPOINT_NAMES:
            return checkpoint
        return checkpoint.replace("\\", "/").rsplit("/", 1)[-1]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_manifest_url(self, obj: Any) -> str | None:
        if not obj.sha256:
            return None
        return reverse("api-model-manifest", kwargs={"sha256": obj.sha256})


class EverythingBoundSerializer(serializers.Serializer):
    integer = serializers.BooleanField()
    min = serializers.FloatField()
    max = serializers.FloatField()


class EverythingFormSerializer(serializers.Serializer):
    defaults = serializers.DictField(
        help_text="what an everything job that leaves a parameter out runs with (one the "
        "model's family decides and a registered file does not tell is absent)"
    )
    bounds = serializers.DictField(
        child=EverythingBoundSerializer(),
        help_text="the range POST jobs/ accepts for each parameter, for the caller's role",
    )
    max_prompts = serializers.IntegerField(
        help_text="points_per_side squared times the crops (1, 5, 21, 85 by crop_n_layers) may "
        "not exceed this (JOB_MAX_EVERYTHING_PROMPTS)"
    )


class ProjectSerializer(serializers.ModelSerializer):
    labels = LabelSerializer(many=True, read_only=True)
    attributes = AttributeSerializer(many=True, read_only=True)
    sam_model = SamModelSerializer(read_only=True)
    role = serializers.SerializerMethodField()
    everything = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", "name", "description", "labels", "sam_model", "role", "allow_self_review",
                  "created_at", "attributes", "archived_at", "everything"]  # fmt: skip

    @extend_schema_field(serializers.ChoiceField(choices=Role.choices, allow_null=True))
    def get_role(self, obj: Project) -> str | None:
        roles = self.context.get("roles", {})
        return roles.get(obj.pk)

    @extend_schema_field(EverythingFormSerializer)
    def get_everything(self, obj: Project) -> dict[str, Any]:
        # The everything dialogs prefill and bound their inputs with these, so the numbers
        # live once, in services/everything.py; a non-manager gets an annotator's bounds.
        role = self.get_role(obj)
        manages = role is not None and Can.MANAGE in CAPABILITIES[role]
        return everything_form(checkpoint=str(obj.sam_model.checkpoint), limited=not manages)


class LabelInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    color = serializers.CharField(max_length=7, default="#ff0000")
    kind = serializers.ChoiceField(
        choices=Label.Kind.choices, default=Label.Kind.OBJECT, help_text="object or image tag"
    )


# Who may pick which of these is the service's policy (services/quotas.py: 403 for a
# checkpoint not offered); this serializer only refuses names that are no checkpoint at all.


# MAX_DESCRIPTION and MAX_LABELS, the bounds on what a project carries, live with the models:
# the services check the same numbers for callers that are not this API (annotation imports).


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
    # May a reviewer decide on an image they submitted? Owners only (services/review.py).
    allow_self_review = serializers.BooleanField(required=False)
    # Archive (true) or unarchive (false): owners and managers; the one write an archived
    # project takes, besides its deletion and exports.
    archived = serializers.BooleanField(required=False)


class ProjectListQuerySerializer(serializers.Serializer):
    archived = serializers.BooleanField(
        required=False, default=False, help_text="true: the archived projects instead"
    )


class LabelOrderSerializer(serializers.Serializer):
    label_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        max_length=MAX_LABELS,
        help_text="label ids in their new order, first; the labels not named follow in their "
        "current order",
    )


class LabelUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    color = serializers.CharField(max_length=7, required=False)
    kind = serializers.ChoiceField(choices=Label.Kind.choices, required=False)


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "username", "role", "created_at"]
        read_only_fields = ["id", "user", "username", "created_at"]


class MembershipWriteSerializer(serializers.Serializer):
    # Only the shape is checked here: whether the user exists, and whether the caller may see
    # them, is one answer from services.member_find, so this must not look anyone up (a
    # PrimaryKeyRelatedField's "object does not exist" told ids apart).
    user = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="a user id (staff only)"
    )
    username = serializers.CharField(required=False, max_length=254)
    email = serializers.CharField(required=False, max_length=254)
    role = serializers.ChoiceField(choices=Role.choices)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if sum(key in attrs for key in ("user", "username", "email")) != 1:
            raise serializers.ValidationError("Give one of username, email or user (an id).")
        return attrs


class MembershipRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class LabelCountSerializer(serializers.Serializer):
    label = serializers.IntegerField()
    name = serializers.CharField()
    color = serializers.CharField()
    count = serializers.IntegerField()


class PersonStatsSerializer(serializers.Serializer):
    user = serializers.IntegerField()
    username = serializers.CharField()
    role = serializers.CharField()
    assigned = serializers.IntegerField()
    submitted = serializers.IntegerField()
    accepted = serializers.IntegerField()
    annotations = serializers.IntegerField(help_text="annotations this member created")
    actions = serializers.IntegerField(
        help_text="recorded writes: annotations created or last edited, review steps"
    )
    seconds = serializers.IntegerField(
        help_text="work time: the gaps of at most 5 minutes between consecutive actions, summed "
        "(selectors.work_time)"
    )


class ProjectStatsSerializer(serializers.Serializer):
    images = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())
    embeddings = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="images by the state of their embedding for the project's model; none: never "
        "requested",
    )
    annotations = serializers.IntegerField()
    by_label = LabelCountSerializer(many=True)
    people = PersonStatsSerializer(many=True)
