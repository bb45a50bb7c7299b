"""Writes. Every change to the data goes through a function here (HackSoft style), one module
per area; this package re-exports their public names, so callers write `services.image_create`.

Functions are keyword-only and named `<entity>_<action>`; they raise a ServiceError subclass
(services/errors.py) for anything the caller did wrong, and the API turns its `status` into the
HTTP answer. Modules here import models, selectors, leases, the queue and one another (never
this package's __init__, never annotator.tasks): see annotator/README.md.
"""

from annotator.services.annotations import (
    annotation_bulk,
    annotation_create,
    annotation_delete,
    annotation_update,
)
from annotator.services.atlases import atlas_check, atlas_compute, atlas_enqueue
from annotator.services.attributes import (
    attribute_create,
    attribute_delete,
    attribute_update,
)
from annotator.services.dataset import (
    BULK_MAX_IMAGES,
    image_thumbnail,
    images_bulk_assign,
    images_bulk_delete,
    images_bulk_export,
    images_bulk_recompute,
)
from annotator.services.decoder_files import (
    decoder_fetch,
    decoder_file_open,
    decoder_file_open_encoded,
    decoder_gzip,
    decoder_manifest,
    decoder_publish,
    decoder_published,
)
from annotator.services.directory import member_find, project_member, user_directory
from annotator.services.embedding_sweep import embedding_sweep
from annotator.services.embeddings import (
    embedding_compute,
    embedding_compute_pending,
    embedding_enqueue,
    embedding_release_lost,
    embedding_request,
    embedding_retry_later,
)
from annotator.services.errors import (
    Conflict,
    Forbidden,
    InsufficientStorage,
    Invalid,
    Locked,
    NotFound,
    QuotaExceeded,
    ServiceError,
    TooLarge,
    Unavailable,
    User,
)
from annotator.services.everything import everything_form
from annotator.services.exports import EXPORT_WRITERS, dataset_export
from annotator.services.images import image_assign, image_delete, image_update
from annotator.services.import_archive import ImportPlan, import_run, plan_result
from annotator.services.imports import (
    IMPORT_FORMATS,
    ImportResult,
    dataset_read,
)
from annotator.services.jobs import (
    MODEL_KINDS,
    RUNNERS,
    job_cancel,
    job_create,
    job_progress,
    job_release_lost,
    job_retry,
    job_run,
)
from annotator.services.locks import image_lock, image_unlock
from annotator.services.offers import checkpoint_list, detector_list
from annotator.services.project_settings import (
    Archived,
    label_reorder,
    project_archive,
    project_loss,
    project_writable,
)
from annotator.services.projects import (
    label_create,
    label_delete,
    label_update,
    membership_remove,
    membership_set,
    project_create,
    project_delete,
    project_update,
)
from annotator.services.proposals import (
    ProposalIn,
    proposal_drop,
    proposal_keep,
    proposals_create,
    proposals_decide,
    proposals_keep_above,
)
from annotator.services.revert import annotation_revert
from annotator.services.review import (
    TRANSITIONS,
    allowed_steps,
    image_lock_to_edit,
    image_transition,
    issue_create,
    issue_resolve,
    project_allow_self_review,
)
from annotator.services.sam_models import (
    PermanentError,
    onnx_dir,
    sam_model_decoder,
    sam_model_export,
    sam_model_export_request,
    sam_model_get_or_create,
    sam_model_load,
)
from annotator.services.tags import image_tag_set
from annotator.services.text_prompts import (
    MAX_JOB_PHRASE_CHARS,
    MAX_JOB_PHRASES,
    text_image_held,
    text_run,
)
from annotator.services.text_status import text_status, text_status_report
from annotator.services.uploads import image_create, image_import, upload_read

__all__ = [
    "user_directory",
    "allowed_steps",
    "atlas_check",
    "atlas_compute",
    "atlas_enqueue",
    "EXPORT_WRITERS",
    "IMPORT_FORMATS",
    "MODEL_KINDS",
    "RUNNERS",
    "TRANSITIONS",
    "Conflict",
    "Forbidden",
    "ImportResult",
    "InsufficientStorage",
    "Invalid",
    "Locked",
    "NotFound",
    "QuotaExceeded",
    "PermanentError",
    "ServiceError",
    "TooLarge",
    "Unavailable",
    "User",
    "annotation_bulk",
    "annotation_create",
    "annotation_delete",
    "annotation_update",
    "dataset_export",
    "dataset_read",
    "embedding_compute",
    "embedding_compute_pending",
    "embedding_enqueue",
    "embedding_release_lost",
    "embedding_request",
    "embedding_retry_later",
    "embedding_sweep",
    "image_assign",
    "image_create",
    "image_delete",
    "image_import",
    "image_lock",
    "image_lock_to_edit",
    "image_transition",
    "image_unlock",
    "image_update",
    "job_create",
    "job_progress",
    "job_release_lost",
    "job_run",
    "issue_create",
    "issue_resolve",
    "label_create",
    "label_delete",
    "label_update",
    "member_find",
    "project_member",
    "membership_remove",
    "membership_set",
    "onnx_dir",
    "project_allow_self_review",
    "project_create",
    "project_delete",
    "project_update",
    "ProposalIn",
    "proposal_drop",
    "proposal_keep",
    "proposals_create",
    "proposals_decide",
    "proposals_keep_above",
    "sam_model_decoder",
    "sam_model_export",
    "sam_model_export_request",
    "sam_model_get_or_create",
    "sam_model_load",
    "upload_read",
    # Multi-host: the exported decoder in the media storage (services/decoder_files.py).
    "decoder_fetch",
    "decoder_file_open",
    "decoder_file_open_encoded",
    "decoder_gzip",
    "decoder_manifest",
    "decoder_publish",
    "decoder_published",
    # Annotation history (services/history.py records, services/revert.py reverts).
    "annotation_revert",
    # Text prompts (services/text_prompts.py, text_status.py).
    "MAX_JOB_PHRASES",
    "MAX_JOB_PHRASE_CHARS",
    "text_image_held",
    "text_run",
    "text_status",
    "text_status_report",
    # The jobs panel and its dialogs (services/jobs.py, services/offers.py).
    "job_cancel",
    "job_retry",
    "checkpoint_list",
    "detector_list",
    "ImportPlan",
    "import_run",
    "plan_result",
    # Shapes: label attributes and image tags.
    "attribute_create",
    "attribute_delete",
    "attribute_update",
    "image_tag_set",
    # The manage area's settings and dataset actions (services/project_settings.py, dataset.py).
    "Archived",
    "BULK_MAX_IMAGES",
    "image_thumbnail",
    "images_bulk_assign",
    "images_bulk_delete",
    "images_bulk_export",
    "images_bulk_recompute",
    "label_reorder",
    "project_archive",
    "project_loss",
    "project_writable",
    # What the everything dialogs offer (services/everything.py).
    "everything_form",
]
