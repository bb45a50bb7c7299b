"""Reads: querysets scoped to what a user may see."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, transaction
from django.db.models import (
    CharField,
    Count,
    DateTimeField,
    Exists,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Concat, Lower
from django.utils import timezone

from annotator.models import (
    Annotation,
    AnnotationVersion,
    Attribute,
    Embedding,
    Image,
    Job,
    Label,
    Membership,
    NameKey,
    Project,
    Proposal,
    ReviewEvent,
    ReviewIssue,
    SamModel,
)
from annotator.models.images import thumbnail_name

# The dashboard's and the jobs panel's counts live beside this module (annotator/stats.py),
# re-exported here so that views read every query from selectors.
from annotator.stats import (  # noqa: F401
    embedding_status_counts,
    embedding_statuses,
    embedding_summary,
    job_proposal_counts,
    project_stats,
)

User = AbstractBaseUser | AnonymousUser


def project_get(*, pk: int) -> Project:
    """A project by id, whoever asks (the admin's actions; the API goes through project_list)."""
    return Project.objects.get(pk=pk)


def project_list(*, user: User) -> QuerySet[Project]:
    return Project.objects.filter(memberships__user_id=user.pk).select_related("sam_model")


def project_list_shown(*, user: User, archived: bool = False) -> QuerySet[Project]:
    """The project list's page: the active projects, or with `archived` the archived ones."""
    return project_list(user=user).filter(archived_at__isnull=not archived)


# The image list's sorts (the dataset page's columns): each is (sort key, id), ascending, or
# descending with a leading "-". "id" is upload order, the same as created_at.
IMAGE_SORTS = {
    "id": None,
    "name": NameKey("original_name"),
    "status": F("status"),
    "updated": F("updated_at"),
}
EMBEDDING_NONE = "none"


def image_list(
    *, project: Project, filters: dict[str, Any] | None = None, ordering: str = "id"
) -> QuerySet[Image]:
    """A project's images, filtered and in `ordering` (a key of IMAGE_SORTS, "-" for
    descending) with the id breaking ties, so that image_page_after can continue from any row.

    filters: `status`, `assignee` (a user id), `label` (has an annotation of that label id),
    `embedding` (the status of its embedding under the project's model, or "none"), `search`
    (a prefix of the name, case-insensitive: a range of the name index, never a scan).
    """
    filters = filters or {}
    qs = project.images.annotate(sort_key=_sort_key(ordering))
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    if filters.get("assignee"):
        qs = qs.filter(assignee_id=filters["assignee"])
    if filters.get("unassigned"):
        qs = qs.filter(assignee__isnull=True)
    if filters.get("label"):
        # An EXISTS per row along the sort's index: measured against taking the label's image
        # ids first (a probe of the (label, image) index, then sorting them), it won on both
        # databases at a million images (bench/RESULTS.md, "rare label").
        # An object label: has an annotation of it; a tag label: is tagged with it.
        tagged = Image.tags.through.objects.filter(
            image_id=OuterRef("pk"), label_id=filters["label"]
        )
        qs = qs.filter(
            Exists(Annotation.objects.filter(image_id=OuterRef("pk"), label_id=filters["label"]))
            | Exists(tagged)
        )
    if filters.get("embedding"):
        embedded = Embedding.objects.filter(
            image_id=OuterRef("pk"), sam_model_id=project.sam_model_id
        )
        if filters["embedding"] == EMBEDDING_NONE:
            qs = qs.filter(~Exists(embedded))
        else:
            qs = qs.filter(Exists(embedded.filter(status=filters["embedding"])))
    if filters.get("search"):
        qs = _name_prefix(qs, project=project, prefix=filters["search"], ordering=ordering)
    descending = ordering.startswith("-")
    keys = [F("sort_key"), F("id")] if IMAGE_SORTS[ordering.lstrip("-")] else [F("id")]
    return qs.order_by(*[k.desc() if descending else k.asc() for k in keys]).prefetch_related(
        "tags"
    )


# Above this many names with the prefix, a search in another order than the name's reads the
# sort's index and checks the prefix row by row (at least one row in SEARCH_SORT_LIMIT / N
# matches, so a page of 50 reads a bounded stretch); up to it, the matches come from the name
# index and are sorted.
SEARCH_SORT_LIMIT = 5000


def _name_prefix(qs: QuerySet[Image], *, project: Project, prefix: str, ordering: str) -> Any:
    """Names starting with `prefix`, case-insensitive: every such name sorts between the
    prefix and the prefix followed by the highest code point, one range of the name index.

    Sorted by anything but the name, SQLite's planner (no histograms) takes that range
    whatever its size and sorts it: 0.8 s for a prefix that a sixth of a million names share.
    So a probe of at most SEARCH_SORT_LIMIT + 1 index entries picks the plan: few matches, by
    id from the range; many, the prefix test on each row along the sort's index (SQLite's
    unary + keeps the range from being used; PostgreSQL's planner weighs both itself)."""
    low = Lower(Value(prefix))
    high = Concat(low, Value("\U0010ffff"))
    in_range = {"name_key__gte": low, "name_key__lt": high}
    if ordering.lstrip("-") == "name":
        return qs.alias(name_key=NameKey("original_name")).filter(**in_range)
    matches = project.images.alias(name_key=NameKey("original_name")).filter(**in_range)
    ids = list(matches.values_list("id", flat=True)[: SEARCH_SORT_LIMIT + 1])
    if len(ids) <= SEARCH_SORT_LIMIT:
        return qs.filter(id__in=ids)
    return qs.alias(name_key=Unindexed(NameKey("original_name"))).filter(**in_range)


class Unindexed(Func):
    """The expression, kept from being matched to an index on SQLite (a unary +)."""

    template = "%(expressions)s"

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="+%(expressions)s", **extra)


def _sort_key(ordering: str) -> Any:
    key = IMAGE_SORTS[ordering.lstrip("-")]
    return key if key is not None else F("id")


@contextmanager
def list_reads() -> Iterator[None]:
    """The dataset list's keyset reads. On PostgreSQL without parallel workers: for a walk
    along the sort's index with an EXISTS per row (a rare label) its planner takes a parallel
    Gather Merge whose workers' start-up made a 12 ms query take 67 at a million images
    (bench/RESULTS.md); a page of 50 rows never needs them (an exact COUNT does)."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        yield


def image_page_after(
    *, images: QuerySet[Image], ordering: str, key: list[Any], limit: int, backward: bool = False
) -> list[Image]:
    """Up to `limit` rows of image_list(ordering=...) after the row whose (sort key, id) is
    `key`, or before it with `backward` (then nearest first: the caller flips the page back).

    Two index ranges, each read for at most `limit` rows: the rest of the cursor's tie group
    (`key = v AND id > i`), then the following keys (`key > v`). The one-statement forms
    are not: SQLite ranges a row value `(key, id) > (v, i)` on its first column only (a deep
    page inside one status read every earlier row of that status), and neither database
    ranges `key > v OR (key = v AND id > i)` at all."""
    sort = IMAGE_SORTS[ordering.lstrip("-")]
    if backward:
        images = images.reverse()
    forward = ordering.startswith("-") == backward
    after, beyond = ("gt", "gt") if forward else ("lt", "lt")
    if sort is None:
        return list(images.filter(**{f"id__{after}": key[0]})[:limit])
    value = Value(key[0], output_field=_key_field(ordering))
    ties = list(images.filter(sort_key=value, **{f"id__{after}": key[1]})[:limit])
    if len(ties) == limit:
        return ties
    rest = images.filter(**{f"sort_key__{beyond}": value})[: limit - len(ties)]
    return ties + list(rest)


def _key_field(ordering: str) -> Any:
    return DateTimeField() if ordering.lstrip("-") == "updated" else CharField()


def image_sort_value(*, image: Image, ordering: str) -> list[Any]:
    """The (sort key, id) of a row of image_list(ordering=...), as image_page_after takes it."""
    if IMAGE_SORTS[ordering.lstrip("-")] is None:
        return [image.pk]
    return [image.sort_key, image.pk]


def annotation_counts(*, images: list[Image]) -> dict[int, int]:
    """How many annotations each image has: one grouped query for a page of images (a
    COUNT joined into the list itself made the database count every image's annotations
    before it could apply the page's LIMIT)."""
    rows = (
        Annotation.objects.filter(image_id__in=[image.pk for image in images])
        .values("image_id")
        .annotate(n=Count("id"))
    )
    return {row["image_id"]: row["n"] for row in rows}


# Images that still need an annotator's work.
OPEN_STATUSES = ("new", "in_progress", "rejected")


def image_next_for(
    *, project: Project, user: User, after: int | None = None, review: bool = False
) -> Image | None:
    """The next image for `user`: to annotate (assigned to them or to nobody, still open;
    rejected ones first, so a reviewer's comments are answered before new work starts) or,
    with `review`, to review (submitted, and not by them unless the project allows it). Never
    one locked by someone else; the first one after `after` (by id), wrapping around."""
    now = timezone.now()
    qs = project.images.exclude(Q(locked_until__gt=now) & ~Q(locked_by_id=user.pk))
    if review:
        qs = qs.filter(status="submitted")
        if not project.allow_self_review:
            last_submitter = Subquery(
                ReviewEvent.objects.filter(image=OuterRef("pk"), action="submit")
                .order_by("-id")
                .values("user_id")[:1]
            )
            # Spelled out for images without a submit record (NULL), which a plain exclude()
            # on an annotation would drop as well.
            qs = qs.annotate(submitter=last_submitter).filter(
                Q(submitter__isnull=True) | ~Q(submitter=user.pk)
            )
    else:
        qs = qs.filter(status__in=OPEN_STATUSES).filter(
            Q(assignee_id=user.pk) | Q(assignee__isnull=True)
        )
    qs = qs.order_by("id")
    first = qs.filter(status="rejected")
    if after is not None:
        for candidates in (first.filter(pk__gt=after), qs.filter(pk__gt=after)):
            following = candidates.first()
            if following is not None:
                return following
        return qs.exclude(pk=after).first()
    # Own assignments first: a manager's assignment is a request.
    own = qs.filter(assignee_id=user.pk)
    return own.filter(status="rejected").first() or own.first() or first.first() or qs.first()


def review_events(*, image: Image) -> QuerySet[ReviewEvent]:
    return image.review_events.select_related("user")


def review_issues(*, image: Image) -> QuerySet[ReviewIssue]:
    return image.review_issues.select_related("created_by", "resolved_by")


def issues_visible_to(*, user: User) -> QuerySet[ReviewIssue]:
    return ReviewIssue.objects.filter(image__project__memberships__user_id=user.pk).select_related(
        "image", "created_by", "resolved_by"
    )


def images_visible_to(*, user: User) -> QuerySet[Image]:
    return Image.objects.filter(project__memberships__user_id=user.pk).select_related(
        "project", "project__sam_model"
    )


def annotations_visible_to(*, user: User) -> QuerySet[Annotation]:
    return Annotation.objects.filter(image__project__memberships__user_id=user.pk).select_related(
        "image", "image__project"
    )


def jobs_visible_to(*, user: User) -> QuerySet[Job]:
    return Job.objects.filter(project__memberships__user_id=user.pk).select_related("project")


def label_list(*, project: Project) -> QuerySet[Label]:
    return project.labels.all()


def label_of(*, project: Project, pk: int) -> Label | None:
    return project.labels.filter(pk=pk).first()


def attribute_list(*, project: Project) -> QuerySet[Attribute]:
    return project.attributes.all()


def roles_of(*, user: User) -> dict[int, str]:
    """The user's role in each of their projects, by project id."""
    return dict(Membership.objects.filter(user_id=user.pk).values_list("project_id", "role"))


def annotation_list(*, image: Image) -> QuerySet[Annotation]:
    return image.annotations.all()


def job_list(*, project: Project) -> QuerySet[Job]:
    """The project's jobs, newest first."""
    return project.jobs.order_by("-id")


def membership_list(*, project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user")


def embedding_for_image(*, image: Image) -> Embedding | None:
    """The embedding of the image under its project's current model, if one was requested."""
    return Embedding.objects.filter(image=image, sam_model_id=image.project.sam_model_id).first()


def images_for(*, project: Project, params: dict[str, Any]) -> QuerySet[Image]:
    """A project's images narrowed as a job's params say (`status`, `image_ids`), by id."""
    images = project.images.order_by("id")
    if params.get("status"):
        images = images.filter(status__in=params["status"])
    if params.get("image_ids"):
        images = images.filter(pk__in=params["image_ids"])
    return images


def job_images(*, job: Job) -> QuerySet[Image]:
    """The images a job works on: the project's, narrowed by `status` and `image_ids`."""
    return images_for(project=job.project, params=job.params)


def project_stored_files(*, project: Project) -> list[tuple[Any, str]]:
    """(storage, name) of every file a project's rows name: images and embeddings."""
    storage = Image.file.field.storage
    names = list(project.images.values_list("file", flat=True))
    # Thumbnails exist only for images someone looked at; deleting a missing one is harmless.
    names += [
        thumbnail_name(project.pk, sha) for sha in project.images.values_list("sha256", flat=True)
    ]
    names += list(
        Embedding.objects.filter(image__project=project)
        .exclude(file="")
        .values_list("file", flat=True)
    )
    return [(storage, name) for name in names if name]


def sam_model_visible_to(*, user: User, sha256: str) -> SamModel | None:
    """A model the user may fetch the decoder of: one that a project of theirs uses."""
    return SamModel.objects.filter(sha256=sha256, projects__memberships__user_id=user.pk).first()


def annotation_history(
    *, image: Image, annotation_id: int | None = None
) -> QuerySet[AnnotationVersion]:
    """The versions of the image's annotations (deleted ones too), newest first."""
    qs = image.annotation_versions.select_related("user").order_by("-id")
    if annotation_id is not None:
        qs = qs.filter(annotation_id=annotation_id)
    return qs


def proposals_visible_to(*, user: User) -> QuerySet[Proposal]:
    return Proposal.objects.filter(image__project__memberships__user_id=user.pk).select_related(
        "image", "image__project", "label"
    )


def proposal_list(
    *, image: Image, status: str | None = Proposal.Status.PENDING
) -> QuerySet[Proposal]:
    qs = Proposal.objects.filter(image=image).select_related("label")
    return qs if status is None else qs.filter(status=status)
