"""The annotation data model, one module per area. Rows are written only through
annotator.services; this package re-exports every model (migrations name the upload_to
functions through it)."""

from annotator.models.annotations import Annotation
from annotator.models.history import AnnotationVersion
from annotator.models.images import Image, NameKey, image_upload_to
from annotator.models.projects import (
    MAX_ATTRIBUTE_CHOICES,
    MAX_ATTRIBUTE_TEXT,
    MAX_ATTRIBUTES,
    MAX_DESCRIPTION,
    MAX_LABELS,
    Attribute,
    Label,
    Membership,
    Project,
    Role,
    SamModel,
)
from annotator.models.proposals import Proposal
from annotator.models.review import ReviewEvent, ReviewIssue
from annotator.models.work import Embedding, Job, embedding_upload_to, job_upload_to

__all__ = [
    "MAX_DESCRIPTION",
    "MAX_LABELS",
    "Annotation",
    "AnnotationVersion",
    "Embedding",
    "Image",
    "Job",
    "Label",
    "Membership",
    "NameKey",
    "Project",
    "Proposal",
    "ReviewEvent",
    "ReviewIssue",
    "Role",
    "SamModel",
    "embedding_upload_to",
    "image_upload_to",
    "job_upload_to",
    "Attribute",
    "MAX_ATTRIBUTES",
    "MAX_ATTRIBUTE_CHOICES",
    "MAX_ATTRIBUTE_TEXT",
]
