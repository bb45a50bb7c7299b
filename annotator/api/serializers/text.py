"""Text-prompt jobs and the text-prompt status."""

from __future__ import annotations

from rest_framework import serializers

from annotator.api.serializers.fields import FiniteFloatField, IdField
from annotator.models import Image
from annotator.services.text_prompts import MAX_JOB_PHRASE_CHARS, MAX_JOB_PHRASES, MODES
from annotator.services.text_status import ENGINES

# The shape only: blank, repeated and overlong phrases reach services.text_params_check, whose
# answer names the phrase. The bound on the list keeps a huge body from being read item by item.
MAX_LISTED = 1000


class TextJobCreateSerializer(serializers.Serializer):
    phrases = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=MAX_LISTED),
        max_length=MAX_LISTED,
        help_text=(
            f'what to find, e.g. ["cup", "red mug"]: 1 to {MAX_JOB_PHRASES} phrases of at '
            f"most {MAX_JOB_PHRASE_CHARS} characters"
        ),
    )
    image_ids = serializers.ListField(
        child=IdField(), required=False, max_length=100_000,
        help_text="the images to run on (default: every image of the project, or of `status`); "
        "an annotator gives exactly one, the image they hold open for editing",
    )  # fmt: skip
    status = serializers.ListField(
        child=serializers.ChoiceField(choices=Image.Status.choices), required=False,
        help_text="only images in these statuses",
    )  # fmt: skip
    engine = serializers.ChoiceField(
        choices=list(ENGINES), required=False,
        help_text="sam3: SAM 3 segments the phrases (SAM3_MODEL); detector: OWLv2 or Grounding "
        "DINO (TEXT_DETECTOR) finds boxes, the project's SAM makes the masks. Default: the first "
        "the workers report available (GET /api/text/status)",
    )  # fmt: skip
    mode = serializers.ChoiceField(
        choices=list(MODES), default=MODES[0],
        help_text="proposals (kept or dropped by a labeler; label suggested: the one named like "
        "the phrase), or annotations (managers) for instances scoring at least min_score",
    )  # fmt: skip
    score_threshold = FiniteFloatField(
        required=False, min_value=0, max_value=1,
        help_text="instances scoring below are not reported (default 0.3 sam3, 0.25 detector)",
    )  # fmt: skip
    mask_threshold = FiniteFloatField(
        required=False, min_value=0, max_value=1, help_text="sam3: mask probability cut (0.5)"
    )
    min_score = FiniteFloatField(
        required=False, min_value=0, max_value=1, help_text="annotations mode: default 0.5"
    )
    label = IdField(
        required=False,
        help_text="a label id for phrases no label is named like (needed for annotations then)",
    )


class TextEngineSerializer(serializers.Serializer):
    model = serializers.CharField(help_text="a Hugging Face id, or a folder's name")
    available = serializers.BooleanField()
    reason = serializers.CharField(help_text="why not, in words (empty when available)")


class TextStatusSerializer(serializers.Serializer):
    available = serializers.BooleanField()
    engine = serializers.CharField(allow_null=True, help_text="what a job runs by default")
    engines = serializers.DictField(child=TextEngineSerializer())
    reason = serializers.CharField(allow_blank=True)
    reported_at = serializers.DateTimeField(allow_null=True)
