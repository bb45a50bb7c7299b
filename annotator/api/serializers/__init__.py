"""Request validation and response shapes, one module per area. No business logic: views pass
validated data on to annotator.services. Views write `s.ImageSerializer` (this package's
names), so the split into modules changes no caller."""

from annotator.api.serializers.annotations import (
    AnnotationBulkResultSerializer,
    AnnotationBulkSerializer,
    AnnotationCreateSerializer,
    AnnotationSerializer,
    AnnotationUpdateSerializer,
    PointSerializer,
    PredictSerializer,
)
from annotator.api.serializers.dataset import ImageBulkResultSerializer, ImageBulkSerializer
from annotator.api.serializers.fields import MAX_ID, FiniteFloatField, IdField, PromptsField
from annotator.api.serializers.history import (
    AnnotationVersionFullSerializer,
    AnnotationVersionSerializer,
    HistoryQuerySerializer,
    RevertSerializer,
)
from annotator.api.serializers.images import (
    ImageFilterSerializer,
    ImageSerializer,
    ImageUpdateSerializer,
    ImageUploadSerializer,
    NextImageQuerySerializer,
)
from annotator.api.serializers.jobs import (
    ExportCreateSerializer,
    ImportCreateSerializer,
    ImportResultSerializer,
    JobCreateSerializer,
    JobSerializer,
)
from annotator.api.serializers.projects import (
    KNOWN_CHECKPOINT_NAMES,
    MAX_DESCRIPTION,
    MAX_LABELS,
    LabelInputSerializer,
    LabelOrderSerializer,
    LabelSerializer,
    LabelUpdateSerializer,
    MembershipRoleSerializer,
    MembershipSerializer,
    MembershipWriteSerializer,
    ProjectCreateSerializer,
    ProjectListQuerySerializer,
    ProjectSerializer,
    ProjectStatsSerializer,
    ProjectUpdateSerializer,
    SamModelSerializer,
)
from annotator.api.serializers.review import (
    IssueCreateSerializer,
    ReviewEventSerializer,
    ReviewIssueSerializer,
    ReviewRecordSerializer,
    ReviewSerializer,
)
from annotator.api.serializers.shapes import (
    AttributeCreateSerializer,
    AttributeSerializer,
    AttributeUpdateSerializer,
    ImageTagsSerializer,
)
from annotator.api.serializers.text import TextJobCreateSerializer, TextStatusSerializer

__all__ = [
    "KNOWN_CHECKPOINT_NAMES",
    "MAX_DESCRIPTION",
    "MAX_ID",
    "MAX_LABELS",
    "AnnotationBulkResultSerializer",
    "AnnotationBulkSerializer",
    "AnnotationCreateSerializer",
    "AnnotationSerializer",
    "AnnotationUpdateSerializer",
    "ExportCreateSerializer",
    "FiniteFloatField",
    "IdField",
    "ImageFilterSerializer",
    "ImageSerializer",
    "ImageUpdateSerializer",
    "ImageUploadSerializer",
    "ImportCreateSerializer",
    "ImportResultSerializer",
    "JobCreateSerializer",
    "JobSerializer",
    "LabelInputSerializer",
    "LabelSerializer",
    "LabelUpdateSerializer",
    "MembershipRoleSerializer",
    "MembershipSerializer",
    "MembershipWriteSerializer",
    "NextImageQuerySerializer",
    "PointSerializer",
    "PredictSerializer",
    "ProjectCreateSerializer",
    "ProjectSerializer",
    "ProjectStatsSerializer",
    "ProjectUpdateSerializer",
    "PromptsField",
    "IssueCreateSerializer",
    "ReviewEventSerializer",
    "ReviewIssueSerializer",
    "ReviewRecordSerializer",
    "ReviewSerializer",
    "SamModelSerializer",
    # Annotation history.
    "AnnotationVersionFullSerializer",
    "AnnotationVersionSerializer",
    "HistoryQuerySerializer",
    "RevertSerializer",
    "TextJobCreateSerializer",
    "TextStatusSerializer",
    "AttributeCreateSerializer",
    "AttributeSerializer",
    "AttributeUpdateSerializer",
    "ImageTagsSerializer",
    "ImageBulkResultSerializer",
    "ImageBulkSerializer",
    "LabelOrderSerializer",
    "ProjectListQuerySerializer",
]
