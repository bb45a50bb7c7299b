"""Jobs, exports and imports."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotator.api.serializers.fields import IdField
from annotator.models import Image, Job
from annotator.selectors import job_proposal_counts
from annotator.services.everything import EVERYTHING_BOUNDS
from annotator.services.exports import EXPORT_WRITERS
from annotator.services.imports import IMPORT_FORMATS


class JobProposalCountsSerializer(serializers.Serializer):
    pending = serializers.IntegerField()
    kept = serializers.IntegerField()
    dropped = serializers.IntegerField()
    refused = serializers.IntegerField(
        help_text="asked to keep (score >= keep_above) but left pending: the image's lock or "
        "review status refused, or no label to give"
    )


class JobSerializer(serializers.ModelSerializer):
    result_url = serializers.SerializerMethodField()
    proposals = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id", "project", "kind", "params", "status", "done", "total", "result_url", "error",
            "created_by", "created_at", "finished_at", "skipped", "summary", "cancel_requested",
            "retry_of", "proposals",
        ]  # fmt: skip

    @extend_schema_field(JobProposalCountsSerializer(allow_null=True))
    def get_proposals(self, obj: Job) -> dict[str, int] | None:
        # Jobs that write proposals: what came of them (None for exports).
        if obj.kind not in (Job.Kind.EVERYTHING, Job.Kind.AUTO_ANNOTATE):
            return None
        return job_proposal_counts(job=obj)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_result_url(self, obj: Job) -> str | None:
        if not obj.result:
            return None
        return reverse("api-job-result", kwargs={"pk": obj.pk})


class JobCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Job.Kind.choices)
    params = serializers.DictField(
        required=False,
        default=dict,
        help_text=(
            f"export: format ({'|'.join(EXPORT_WRITERS)}), status, image_ids. everything: "
            f"label (optional: suggested), {', '.join(EVERYTHING_BOUNDS)}, image_ids "
            "(an annotator: the one image they hold; points_per_side <= 32, no crop layers). "
            "auto_annotate: boxes {image id: [[x0, y0, x1, y1]]} + label, or detector (a "
            "configured name) + class_labels {class id: label id} and/or label, conf, iou, "
            "imgsz, classes, max_det, image_ids. everything and auto_annotate write proposals; "
            "keep_above (0 to 1): those scoring at least that are kept at once as annotations. "
            "text: as POST projects/{id}/text-jobs/."
        ),
    )


class ExportCreateSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=list(EXPORT_WRITERS), default="coco")
    rle = serializers.BooleanField(
        default=False, help_text="for format=coco: segmentations as RLE instead of polygons"
    )
    mask_mode = serializers.ChoiceField(
        choices=["instance", "semantic"], default="instance", help_text="for format=masks"
    )
    include_images = serializers.BooleanField(
        default=False,
        help_text="put the image files in the archive too (COCO then comes as a zip: "
        "annotations_coco.json and images/)",
    )
    status = serializers.ListField(
        child=serializers.ChoiceField(choices=Image.Status.choices), required=False,
        help_text="only images in these statuses (default: all)",
    )  # fmt: skip


class ImportCreateSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="COCO JSON (or a zip of one), or a zip archive")
    format = serializers.ChoiceField(choices=list(IMPORT_FORMATS))
    label = IdField(
        required=False,
        help_text="yolo_boxes: the label of boxes whose class has no name in the archive "
        "(classes.txt or data.yaml); without it and without names, class id i is the i-th label",
    )
    dry_run = serializers.BooleanField(
        default=False, help_text="answer 200 with what would be created, and write nothing"
    )
    classes = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=2**31 - 1),
        required=False,
        max_length=10_000,
        help_text="yolo_boxes: only boxes of these class ids",
    )
    max_det = serializers.IntegerField(
        required=False, min_value=1, max_value=10_000, help_text="yolo_boxes: boxes per image"
    )


class SkippedImageSerializer(serializers.Serializer):
    image = serializers.IntegerField()
    name = serializers.CharField()
    reason = serializers.CharField(help_text="why it was left alone, and what to do")


class ImportResultSerializer(serializers.Serializer):
    images = serializers.IntegerField()
    annotations = serializers.IntegerField()
    labels_created = serializers.ListField(child=serializers.CharField())
    skipped = SkippedImageSerializer(
        many=True, help_text="images held by the review rules or someone's lock: left as they are"
    )
    images_added = serializers.IntegerField(help_text="images of the archive that were new")


class ImportPlanSerializer(serializers.Serializer):
    images_new = serializers.ListField(
        child=serializers.CharField(), help_text="images of the archive the project lacks"
    )
    images_known = serializers.IntegerField(help_text="images of the archive already there")
    images_annotated = serializers.IntegerField()
    annotations = serializers.DictField(
        child=serializers.IntegerField(), help_text="per label name"
    )
    boxes = serializers.DictField(
        child=serializers.IntegerField(), help_text="yolo_boxes: boxes per label name"
    )
    labels_to_create = serializers.ListField(child=serializers.CharField())
    problems = serializers.ListField(
        child=serializers.CharField(), help_text="what the import would refuse"
    )
    skipped = SkippedImageSerializer(
        many=True, help_text="images held by the review rules or someone's lock: left alone"
    )


class DetectorSerializer(serializers.Serializer):
    name = serializers.CharField()
    # A plain string: a second choice set named `kind` (beside the Job's) makes the schema
    # generator warn, which fails `check --deploy --fail-level WARNING`.
    kind = serializers.CharField(help_text="onnx, ultralytics or boxes (from a file)")
    available = serializers.BooleanField()
    note = serializers.CharField()


class CheckpointSerializer(serializers.Serializer):
    name = serializers.CharField()
    present = serializers.BooleanField(help_text="the file is on this server's disk now")
    default = serializers.BooleanField(help_text="SAM_CHECKPOINT, what a project gets unasked")


class EmbeddingErrorSerializer(serializers.Serializer):
    error = serializers.CharField()
    count = serializers.IntegerField()


class EmbeddingSummarySerializer(serializers.Serializer):
    images = serializers.IntegerField()
    pending = serializers.IntegerField()
    running = serializers.IntegerField()
    ready = serializers.IntegerField()
    failed = serializers.IntegerField()
    none = serializers.IntegerField(help_text="images without an embedding row")
    errors = EmbeddingErrorSerializer(many=True, help_text="the commonest reasons of failures")
