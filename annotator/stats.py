"""Counts for the dashboard and the jobs panel: images, embeddings, annotations and proposals
by state, and how long each member worked on a project, read from what they did (the
dashboard's "time" column). Reads beside selectors.py, in its layer; selectors re-exports
them."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Count, Q

from annotator.models import Annotation, Embedding, Image, Job, Project, Proposal, ReviewEvent

# Two actions of one person further apart than this are two sittings: the pause is not work.
WORK_GAP_SECONDS = 300


def work_time(*, project: Project) -> dict[int, tuple[int, float]]:
    """(actions, seconds) per user: the actions are the project's recorded writes (annotations
    created, annotations edited, as their last edit; review steps), and the time is the sum of
    the gaps between a person's consecutive actions that are at most WORK_GAP_SECONDS, so
    time spent on an image before its first action, and breaks, are not counted. One query
    with a window function (SQLite 3.25+, PostgreSQL); no row reaches Python."""
    ann, img = Annotation._meta.db_table, Image._meta.db_table
    rev = ReviewEvent._meta.db_table
    if connection.vendor == "postgresql":
        now, before = "EXTRACT(EPOCH FROM t)", "EXTRACT(EPOCH FROM LAG(t) OVER w)"
    else:
        now, before = "julianday(t) * 86400.0", "julianday(LAG(t) OVER w) * 86400.0"
    sql = f"""
        WITH ev(u, t) AS (
            SELECT a.created_by_id, a.created_at FROM {ann} a JOIN {img} i ON i.id = a.image_id
             WHERE i.project_id = %s AND a.created_by_id IS NOT NULL
            UNION ALL
            SELECT a.updated_by_id, a.updated_at FROM {ann} a JOIN {img} i ON i.id = a.image_id
             WHERE i.project_id = %s AND a.version > 1 AND a.updated_by_id IS NOT NULL
            UNION ALL
            SELECT r.user_id, r.created_at FROM {rev} r JOIN {img} i ON i.id = r.image_id
             WHERE i.project_id = %s AND r.user_id IS NOT NULL
        ), gaps AS (
            SELECT u, ({now}) - ({before}) AS gap FROM ev WINDOW w AS (PARTITION BY u ORDER BY t)
        )
        SELECT u, COUNT(*), SUM(CASE WHEN gap <= %s THEN gap ELSE 0 END) FROM gaps GROUP BY u
    """  # noqa: S608 (table names from the models, values as parameters)
    with connection.cursor() as cursor:
        cursor.execute(sql, [project.pk, project.pk, project.pk, WORK_GAP_SECONDS])
        return {u: (n, float(sec or 0.0)) for u, n, sec in cursor.fetchall()}


def embedding_status_counts(*, project: Project) -> dict[str, int]:
    rows = (
        Embedding.objects.filter(image__project=project, sam_model_id=project.sam_model_id)
        .values("status")
        .annotate(n=Count("id"))
    )
    return {row["status"]: row["n"] for row in rows}


def project_stats(*, project: Project) -> dict[str, Any]:
    """The counts of a project's dashboard, each one aggregate query rather than a list: images
    by status and by the state of their embedding (for the project's model), annotations by
    label, and each member's assigned, submitted and accepted images and annotations made."""
    images = project.images.all()
    by_status = dict(images.values_list("status").annotate(n=Count("id")).order_by())
    embeddings = Embedding.objects.filter(image__project=project, sam_model_id=project.sam_model_id)
    by_embedding = dict(embeddings.values_list("status").annotate(n=Count("id")).order_by())
    total = images.count()
    by_embedding["none"] = total - sum(by_embedding.values())
    labels = project.labels.annotate(n=Count("annotations")).order_by("order", "id")
    annotations = Annotation.objects.filter(image__project=project)
    made = dict(annotations.values_list("created_by").annotate(n=Count("id")).order_by())
    assigned: dict[tuple[int, str], int] = {
        (user, status): n
        for user, status, n in images.filter(assignee__isnull=False)
        .values_list("assignee", "status")
        .annotate(n=Count("id"))
        .order_by()
    }
    worked = work_time(project=project)
    people = []
    for m in project.memberships.select_related("user"):
        counts = {s: assigned.get((m.user_id, s), 0) for s in Image.Status.values}
        actions, seconds = worked.get(m.user_id, (0, 0.0))
        people.append({
            "user": m.user_id, "username": m.user.username, "role": m.role,
            "assigned": sum(counts.values()), "submitted": counts["submitted"],
            "accepted": counts["accepted"], "annotations": made.get(m.user_id, 0),
            "actions": actions, "seconds": round(seconds),
        })  # fmt: skip
    return {
        "images": total,
        "by_status": {s: by_status.get(s, 0) for s in Image.Status.values},
        "embeddings": {s: by_embedding.get(s, 0) for s in [*Embedding.Status.values, "none"]},
        "annotations": annotations.count(),
        "by_label": [
            {"label": lb.pk, "name": lb.name, "color": lb.color, "count": lb.n} for lb in labels
        ],
        "people": people,
    }


def embedding_summary(*, project: Project, errors: int = 5) -> dict[str, Any]:
    """The project's embeddings as one line of work for the jobs panel: images, counts by
    state under the project's model, and the commonest errors of the failed ones, in the
    worker's words, each with how many images it hit."""
    rows = Embedding.objects.filter(image__project=project, sam_model_id=project.sam_model_id)
    counts = dict(rows.values_list("status").annotate(n=Count("id")).order_by())
    images = project.images.count()
    failed = (
        rows.filter(status=Embedding.Status.FAILED)
        .values("error")
        .annotate(count=Count("id"))
        .order_by("-count", "error")[:errors]
    )
    return {
        "images": images,
        **{s: counts.get(s, 0) for s in Embedding.Status.values},
        "none": images - sum(counts.values()),
        "errors": [
            {"error": row["error"] or "(no reason recorded)", "count": row["count"]}
            for row in failed
        ],
    }


def job_proposal_counts(*, job: Job) -> dict[str, int]:
    """A job's proposals by status, and how many it was asked to keep (score at least its
    `keep_above`) but left pending, because the image's lock or review status refused."""
    rows = dict(
        Proposal.objects.filter(job=job).values_list("status").annotate(n=Count("id")).order_by()
    )
    counts = {status: rows.get(status, 0) for status in Proposal.Status.values}
    threshold = job.params.get("keep_above")
    refused = 0
    if threshold is not None:
        pending = Proposal.objects.filter(job=job, status=Proposal.Status.PENDING)
        meets = Q(score__gte=threshold)
        if threshold == 0:
            meets |= Q(score__isnull=True)  # unscored (inline boxes) are kept only at 0
        refused = pending.filter(meets).count()
    return {**counts, "refused": refused}


def embedding_statuses(*, images: list[Image]) -> dict[int, str]:
    """The embedding status of each image (of one project) under its current model."""
    if not images:
        return {}
    model_id = images[0].project.sam_model_id
    rows = Embedding.objects.filter(image__in=images, sam_model_id=model_id)
    return dict(rows.values_list("image_id", "status"))
