# Route table (all under /api/). Roles: V viewer, A annotator, R reviewer, M manager, O owner;
# a member lacking the role gets 403, a non-member 404 (another project's ids do not exist),
# an anonymous caller 403. Every route's answer to every caller is written down in
# tests/security/permission_table.py, which a test checks against this configuration.
#   GET  schema/                     public      OpenAPI 3 schema (YAML, or JSON with ?format=json)
#   GET  docs/                       public      interactive documentation (Swagger UI; ?script:
#                                                its start-up script)
#   GET  projects/                   any         projects the caller is a member of
#   POST projects/                   any         create; the caller becomes owner
#   GET|PATCH|DELETE projects/{id}/  V|M|O
#                                                GET's `everything`: everything mode's defaults and
#                                                bounds for the caller's role (the dialogs prefill)
#   GET|POST projects/{id}/members/  V|M         add or change a member by username or email
#                                                (owners/managers: O; a user id: staff only)
#   PATCH|DELETE projects/{id}/members/{user_id}/   M (owners/managers: O)
#   GET  projects/{id}/stats/        V           dashboard counts: images by status and embedding
#                                                state, annotations by label, work per member
#   GET|POST projects/{id}/labels/   V|M
#   PATCH|DELETE projects/{id}/labels/{label_id}/   M
#   GET  projects/{id}/images/       V           ?status= ?assignee= ?unassigned= ?label= ?embedding=
#                                                ?search= ?ordering= ?limit= and ?offset= or ?cursor=
#   POST projects/{id}/images/       M           multipart `files`: images and zip archives
#   GET  projects/{id}/next-image    A           ?after=: the caller's next open image (rejected
#                                                first); ?review=1 (R): the next submitted one
#   GET|PATCH|DELETE images/{id}/    V|A|M       PATCH status: a step of services/review.py's
#                                                state machine (who: its TRANSITIONS), assignee (M)
#   GET|POST images/{id}/review      V|R         the record (steps, issues); {"decision", "comment"}
#   POST images/{id}/issues          R           {"text", "x"/"y" or "annotation"}: a pinned issue
#   POST issues/{id}/resolve         A           the annotator marks it fixed
#   GET  images/{id}/file            V           the stored (normalised RGB) image
#   POST|DELETE images/{id}/lock     A           take/renew or release the edit lock (423 if held)
#   GET  images/{id}/embedding       V           binary wire embedding; 202 pending; 409 failed
#   POST images/{id}/embedding       M           recompute (or retry a failed one)
#   GET  images/{id}/atlas           V           binary hover atlas; 404 none yet; 409 unusable
#   POST images/{id}/predict         A           server-side decode: masks as RLE and polygons
#   GET|POST images/{id}/annotations/   V|A
#   GET|PATCH|PUT|DELETE annotations/{id}/   V|A   updates carry `version`; stale -> 409
#   POST annotations/bulk            A           {"image", "create": [...], "delete": [ids],
#                                                 "versions"?: [read version per id] -> 409}
#   GET|POST projects/{id}/jobs/     V|M         {"kind": "export" | "everything" | "auto_annotate",
#                                                 "params": {...}} -> 202 with the Job
#   POST projects/{id}/exports/      M           {"format": "coco", "include_images"?} -> 202
#   POST projects/{id}/imports/      M           multipart `file`, `format` coco|yolo_seg|masks
#                                                 -> 201 counts (all or nothing; held images
#                                                 skipped, listed with why); yolo_boxes
#                                                 -> 202 with an auto_annotate Job
#   GET  jobs/{id}/  jobs/{id}/result   V
#   GET  images/{id}/history         V           versions of the image's annotations, deleted
#                                                ones too, newest first; ?annotation= ?snapshot=1
#   POST images/{id}/history/revert  A           {"annotation", "to", "version"}: a version back
#                                                as a new one (200), or a deleted one restored (201)
#   GET  models/{sha256}/manifest.json   V       exported decoder manifest; 202 while exporting
#   GET  models/{sha256}/files/{name}    V       one exported file (decode.onnx, ...)
#   POST projects/{id}/text-jobs/    A|M         {"phrases": ["cup"], "image_ids"?, "engine"?,
#                                                 "mode"?, thresholds} -> 202 with a text Job
#                                                 (A: one image whose lock they hold, proposals)
#   GET  text/status                 any         can the workers run text prompts, which engine
#   POST jobs/{id}/cancel            M           a pending job never starts, a running one stops
#                                                before its next image; finished -> 409
#   POST jobs/{id}/retry             M           a failed or cancelled job again, as a new job
#                                                (retry_of) -> 202; otherwise 409
#   GET  projects/{id}/embeddings/   V           embeddings as one line: counts, commonest errors
#   GET  detectors                   any         detectors auto-annotation may name (no paths)
#   GET  models                      any         SAM checkpoints the caller may give a project,
#                                                and whether each is on the server's disk
#   GET|POST projects/{id}/attributes/   V|M     label attributes: {"name", "type": checkbox|
#                                                 text|select|number, "label"?, "default"?,
#                                                 "choices"?}; values live in annotations
#   PATCH|DELETE projects/{id}/attributes/{attribute_id}/   M
#   POST|DELETE images/{id}/tags/{label_id}   A   set or unset an image tag (a label of kind tag);
#                                                 the edit lock and review status as annotations
#   POST projects/{id}/images/bulk   M           {"action": assign|recompute|delete|export,
#                                                 "filters": {list filters}, "image_ids"?,
#                                                 "assignees"?: [ids, round-robin], "export"?}
#   GET  images/{id}/thumbnail       V           256 px WebP, made once, cached immutable
#   PUT  projects/{id}/labels/order  M           {"label_ids": [...]}: these first, in order
# An archived project (PATCH projects/{id}/ {"archived": true}, M) answers 409 to every write
# but the export, its unarchiving and its deletion; GET projects/?archived=true lists them.
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from annotator.api.views import (
    annotations,
    atlases,
    dataset,
    embeddings,
    history,
    images,
    imports,
    jobs,
    offers,
    projects,
    review,
    shapes,
    text,
)

#   GET  images/{id}/proposals/      V           ?status=pending (default)|kept|dropped|all
#   POST images/{id}/proposals/bulk  A           {"action": keep|drop, "min_score"?, "box"?,
#                                                 "label"?}: all pending ones matching
#   POST proposals/{id}/keep         A           {"label"?} -> the annotation; decided -> 409
#   POST proposals/{id}/drop         A           decided -> 409
#   (POST projects/{id}/jobs/ also takes A: kind everything on the image the caller holds)
from annotator.api.views import proposals as proposal_views

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # GET and HEAD only: its HTML renderer has no template for DRF's OPTIONS metadata (a 500).
    # The split view serves its start-up script as docs/?script instead of inline, which the
    # Content-Security-Policy forbids; Swagger UI's own files come from drf-spectacular-sidecar.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", http_method_names=["get", "head"]),
        name="api-docs",
    ),
    path("projects/", projects.ProjectListView.as_view(), name="api-projects"),
    path("projects/<int:pk>/", projects.ProjectDetailView.as_view(), name="api-project"),
    path("projects/<int:pk>/members/", projects.MemberListView.as_view(), name="api-members"),
    path(
        "projects/<int:pk>/members/<int:user_id>/",
        projects.MemberDetailView.as_view(),
        name="api-member",
    ),
    path("projects/<int:pk>/stats/", projects.ProjectStatsView.as_view(), name="api-stats"),
    path("projects/<int:pk>/labels/", projects.LabelListView.as_view(), name="api-labels"),
    path(
        "projects/<int:pk>/labels/<int:label_id>/",
        projects.LabelDetailView.as_view(),
        name="api-label",
    ),
    path("projects/<int:pk>/images/", images.ImageListView.as_view(), name="api-images"),
    path("projects/<int:pk>/next-image", images.NextImageView.as_view(), name="api-next-image"),
    path("images/<int:pk>/review", review.ImageReviewView.as_view(), name="api-image-review"),
    path("images/<int:pk>/issues", review.ImageIssueListView.as_view(), name="api-image-issues"),
    path("issues/<int:pk>/resolve", review.IssueResolveView.as_view(), name="api-issue-resolve"),
    path("projects/<int:pk>/jobs/", jobs.ProjectJobListView.as_view(), name="api-jobs"),
    path("projects/<int:pk>/exports/", jobs.ProjectExportView.as_view(), name="api-exports"),
    path("projects/<int:pk>/imports/", imports.ProjectImportView.as_view(), name="api-imports"),
    path("images/<int:pk>/", images.ImageDetailView.as_view(), name="api-image"),
    path("images/<int:pk>/file", images.ImageFileView.as_view(), name="api-image-file"),
    path("images/<int:pk>/lock", images.ImageLockView.as_view(), name="api-image-lock"),
    path(
        "images/<int:pk>/embedding",
        embeddings.ImageEmbeddingView.as_view(),
        name="api-image-embedding",
    ),
    path("images/<int:pk>/atlas", atlases.ImageAtlasView.as_view(), name="api-image-atlas"),
    path("images/<int:pk>/predict", embeddings.ImagePredictView.as_view(), name="api-predict"),
    path(
        "images/<int:pk>/annotations/",
        annotations.ImageAnnotationListView.as_view(),
        name="api-image-annotations",
    ),
    path("annotations/bulk", annotations.AnnotationBulkView.as_view(), name="api-annotations-bulk"),
    path(
        "annotations/<int:pk>/", annotations.AnnotationDetailView.as_view(), name="api-annotation"
    ),
    path("jobs/<int:pk>/", jobs.JobDetailView.as_view(), name="api-job"),
    path("jobs/<int:pk>/result", jobs.JobResultView.as_view(), name="api-job-result"),
    path(
        "models/<str:sha256>/manifest.json",
        embeddings.ModelManifestView.as_view(),
        name="api-model-manifest",
    ),
    path(
        "models/<str:sha256>/files/<str:name>",
        embeddings.ModelFileView.as_view(),
        name="api-model-file",
    ),
    path("images/<int:pk>/history", history.ImageHistoryView.as_view(), name="api-image-history"),
    path(
        "images/<int:pk>/history/revert",
        history.ImageHistoryRevertView.as_view(),
        name="api-image-history-revert",
    ),
    path("projects/<int:pk>/text-jobs/", text.ProjectTextJobView.as_view(), name="api-text-jobs"),
    path("text/status", text.TextStatusView.as_view(), name="api-text-status"),
    path("jobs/<int:pk>/cancel", jobs.JobCancelView.as_view(), name="api-job-cancel"),
    path("jobs/<int:pk>/retry", jobs.JobRetryView.as_view(), name="api-job-retry"),
    path(
        "projects/<int:pk>/embeddings/",
        offers.ProjectEmbeddingSummaryView.as_view(),
        name="api-embedding-summary",
    ),
    path("detectors", offers.DetectorListView.as_view(), name="api-detectors"),
    path("models", offers.CheckpointListView.as_view(), name="api-checkpoints"),
    path(
        "images/<int:pk>/proposals/",
        proposal_views.ImageProposalListView.as_view(),
        name="api-image-proposals",
    ),
    path(
        "images/<int:pk>/proposals/bulk",
        proposal_views.ImageProposalBulkView.as_view(),
        name="api-image-proposals-bulk",
    ),
    path(
        "proposals/<int:pk>/keep",
        proposal_views.ProposalKeepView.as_view(),
        name="api-proposal-keep",
    ),
    path(
        "proposals/<int:pk>/drop",
        proposal_views.ProposalDropView.as_view(),
        name="api-proposal-drop",
    ),
    path(
        "projects/<int:pk>/attributes/", shapes.AttributeListView.as_view(), name="api-attributes"
    ),
    path(
        "projects/<int:pk>/attributes/<int:attribute_id>/",
        shapes.AttributeDetailView.as_view(),
        name="api-attribute",
    ),
    path(
        "images/<int:pk>/tags/<int:label_id>", shapes.ImageTagView.as_view(), name="api-image-tag"
    ),
    path("projects/<int:pk>/images/bulk", dataset.ImageBulkView.as_view(), name="api-images-bulk"),
    path("images/<int:pk>/thumbnail", dataset.ImageThumbnailView.as_view(), name="api-thumbnail"),
    path(
        "projects/<int:pk>/labels/order", dataset.LabelOrderView.as_view(), name="api-label-order"
    ),
]
