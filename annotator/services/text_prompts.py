"""Text-prompt jobs: phrases ("cup", "red mug") over a job's images, each instance found becoming
a proposal (the default) or, when asked, an annotation above a score.

Two engines (annotator/text): `sam3` segments the phrases itself; `detector` (OWLv2 or Grounding
DINO, TEXT_DETECTOR) finds boxes that the project's SAM turns into masks. The web process checks
the params (job_params.py calls text_params_check) and never imports either.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from annotator.images import read_rgb
from annotator.models import Image, Job, Label, Project
from annotator.services.annotations import annotation_create
from annotator.services.errors import Conflict, Invalid, ServiceError, Unavailable, User
from annotator.services.everything import mask_rle
from annotator.services.locks import check_not_locked_by_other
from annotator.services.progress import Progress
from annotator.services.proposals import ProposalIn, proposals_create
from annotator.services.sam_models import sam_model_load
from annotator.services.text_status import ENGINES, text_engine_check, text_status

log = logging.getLogger(__name__)

# A Find box takes a few phrases; each is one more pass of the model over every image (SAM 3)
# or one more query (the detectors, whose text length is bounded too). Tighter than what the
# model package accepts (annotator.text.MAX_PHRASES, MAX_PHRASE_CHARS), so a job never fails on
# the worker for what the web could refuse.
MAX_JOB_PHRASES = 16
MAX_JOB_PHRASE_CHARS = 100
MODES = ("proposals", "annotations")
# Annotations mode keeps instances scoring at least this unless `min_score` says otherwise.
DEFAULT_MIN_SCORE = 0.5
TEXT_PARAMS = frozenset(
    {"phrases", "engine", "mode", "score_threshold", "mask_threshold", "min_score", "label"}
    | {"image_ids", "status"}
)


def _is_unit(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= 1
    )


def phrases_clean(phrases: Any) -> list[str]:
    """Phrases with runs of spaces folded, duplicates (ignoring case) dropped; Invalid naming
    the first bad one."""
    if not isinstance(phrases, list) or not phrases:
        raise Invalid('`phrases` is a non-empty list of short phrases, e.g. ["cup", "red mug"].')
    if len(phrases) > MAX_JOB_PHRASES:
        raise Invalid(f"{len(phrases)} phrases given; at most {MAX_JOB_PHRASES} per job.")
    clean: list[str] = []
    for i, phrase in enumerate(phrases):
        if not isinstance(phrase, str):
            raise Invalid(f"Phrase {i} must be text, got {type(phrase).__name__}.")
        text = " ".join(phrase.split())
        if not text:
            raise Invalid(f"Phrase {i} is empty.")
        if len(text) > MAX_JOB_PHRASE_CHARS:
            raise Invalid(
                f"Phrase {i} is {len(text)} characters; at most {MAX_JOB_PHRASE_CHARS} (a short "
                "noun phrase such as 'red cup' works best)."
            )
        if text.casefold() not in (c.casefold() for c in clean):
            clean.append(text)
    return clean


def text_params_check(*, project: Project, params: dict[str, Any]) -> None:
    """Refuse (Invalid) what a text job cannot run with; normalises `phrases` and fills in
    `engine` (the first one the workers report available), `mode` and, for annotations,
    `min_score`."""
    unknown = sorted(set(params) - TEXT_PARAMS)
    if unknown:
        raise Invalid(f"Unknown text-job parameter(s): {', '.join(unknown)}.")
    params["phrases"] = phrases_clean(params.get("phrases"))
    engine = params.setdefault("engine", text_status()["engine"] or ENGINES[0])
    if engine not in ENGINES:
        raise Invalid(f"`engine` is one of {', '.join(ENGINES)}, got {engine!r:.40}.")
    mode = params.setdefault("mode", MODES[0])
    if mode not in MODES:
        raise Invalid(f"`mode` is one of {', '.join(MODES)}, got {mode!r:.40}.")
    for key in ("score_threshold", "mask_threshold", "min_score"):
        if params.get(key) is not None and not _is_unit(params[key]):
            raise Invalid(f"`{key}` must be a number from 0 to 1, got {params[key]!r:.40}.")
    if params.get("mask_threshold") is not None and engine != "sam3":
        raise Invalid("`mask_threshold` is for the sam3 engine (SAM binarises its own masks).")
    labels = {label.pk: label for label in project.labels.all()}
    label = params.get("label")
    if label is not None and (isinstance(label, bool) or label not in labels):
        raise Invalid("`label` is not a label of this project.")
    if mode == "annotations":
        params.setdefault("min_score", DEFAULT_MIN_SCORE)
        named = label_by_name(labels.values())
        unlabelled = [p for p in params["phrases"] if p.casefold() not in named]
        if unlabelled and label is None:
            raise Invalid(
                f"Annotations need a label: no label is named {unlabelled[0]!r}; give `label` "
                "for phrases without a label of their name."
            )
    ids = params.get("image_ids")
    if ids:
        found = set(project.images.filter(pk__in=ids).values_list("pk", flat=True))
        missing = [i for i in ids if i not in found]
        if missing:
            shown = ", ".join(str(i) for i in missing[:5])
            what = "is not an image" if len(missing) == 1 else "are not images"
            raise Invalid(f"`image_ids`: {shown} {what} of this project.")


def text_image_held(*, project_id: int, image_id: int, user: User) -> None:
    """Refuse unless `user` holds the edit lock of the image: a labeler's text prompts run on
    the image they are editing (423 when someone else is, 409 when nobody holds it)."""
    image = Image.objects.filter(pk=image_id, project_id=project_id).first()
    if image is None:
        raise Invalid(f"`image_ids`: {image_id} is not an image of this project.")
    check_not_locked_by_other(image, user)
    held = image.locked_until is not None and image.locked_until > timezone.now()
    if image.locked_by_id != user.pk or not held:
        raise Conflict(
            "Open this image for editing first (its edit lock): text prompts on one image run "
            "for the person editing it."
        )


def label_by_name(labels: Any) -> dict[str, Label]:
    """Labels by case-folded name: the label a phrase suggests is the one named like it."""
    return {label.name.casefold(): label for label in labels}


# One segmenter per worker process, reused by the next job with the same model (loading SAM 3
# takes longer than running it on one image).
_LOADED: dict[tuple[str, str], Any] = {}


def _segmenter(*, engine: str, project: Project, params: dict[str, Any]) -> Any:
    """The engine's segmenter with the job's thresholds; Unavailable, in words, when the worker
    cannot load it (no extra, no model files)."""
    setting, spec, reason = text_engine_check(engine=engine)
    if reason is not None:
        raise Unavailable(f"Text prompts ({engine}) cannot run on this worker: {reason}")
    # torch and transformers: only a worker on the `gpu` queue runs a text job.
    from annotator.text import load_text_model

    device = settings.SAM_DEVICE or _default_device()
    key = (engine, spec)
    predictor = None
    if engine == "detector":
        # The project's SAM (1 or 2.1: annotator.segmenters) turns the detector's boxes into
        # masks; both predictors take the same set_image / predict(box=...) calls.
        segmenter, _ = sam_model_load(sam_model=project.sam_model)
        predictor = segmenter.predictor()
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = load_text_model(
            spec, setting=setting, device=device, sam_predictor=predictor
        )
    segmenter = _LOADED[key]
    defaults = {"sam3": {"score_threshold": 0.3, "mask_threshold": 0.5}}.get(
        engine, {"score_threshold": 0.25}
    )
    for name, default in defaults.items():
        value = params.get(name)
        setattr(segmenter, name, float(value) if value is not None else default)
    if predictor is not None:
        segmenter.predictor = predictor
    return segmenter


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def text_run(*, job: Job, images: QuerySet[Image], progress: Progress) -> None:
    """Every instance of the job's phrases in its images: proposals (source `text`, the label
    named like the phrase suggested), or annotations scoring at least `min_score`. The job's
    summary counts what was found per phrase, image by image."""
    params = job.params
    phrases: list[str] = params["phrases"]
    engine = params.get("engine", ENGINES[0])
    segmenter = _segmenter(engine=engine, project=job.project, params=params)
    labels = list(job.project.labels.all())
    named = label_by_name(labels)
    fallback = next((lb for lb in labels if lb.pk == params.get("label")), None)
    suggested = [named.get(p.casefold(), fallback) for p in phrases]
    found = dict.fromkeys(phrases, 0)
    todo = list(images)
    progress(done=0, total=len(todo))
    for done, image in enumerate(todo, start=1):
        with image.file.open("rb") as f:
            rgb = read_rgb(f.read())
        instances = segmenter.segment(rgb, phrases)
        if params.get("mode") == "annotations":
            kept = _annotate(job, image, instances, phrases, suggested, float(params["min_score"]))
        else:
            kept = _propose(job, image, instances, phrases, suggested, engine)
        for index in kept:
            found[phrases[index]] += 1
        _summarise(job, found, engine)
        progress(done=done, total=len(todo))


def _propose(
    job: Job, image: Image, instances: list[Any], phrases: list[str], labels: list[Any], engine: str
) -> list[int]:
    items = [
        ProposalIn(
            rle=mask_rle(inst.mask),
            score=inst.score,
            label=labels[inst.phrase_index],
            phrase=phrases[inst.phrase_index],
            prompts={"mode": "text", "engine": engine, "box": [float(v) for v in inst.box_xyxy]},
        )
        for inst in instances
    ]
    rows = proposals_create(
        image=image, items=items, source="text", created_by=job.created_by, job=job
    )
    return [phrases.index(row.phrase) for row in rows if row.phrase in phrases]


def _annotate(
    job: Job,
    image: Image,
    instances: list[Any],
    phrases: list[str],
    labels: list[Any],
    min_score: float,
) -> list[int]:
    kept = []
    for inst in instances:
        label = labels[inst.phrase_index]
        if inst.score < min_score or label is None:
            continue
        try:
            annotation_create(
                image=image,
                label=label,
                created_by=job.created_by,
                rle=mask_rle(inst.mask),
                source="auto",
                score=inst.score,
                prompts={"mode": "text", "phrase": phrases[inst.phrase_index],
                         "box": [float(v) for v in inst.box_xyxy]},
            )  # fmt: skip
        except ServiceError as exc:  # an empty mask, a locked image: skip it
            log.info("text job %s skipped an instance on image %s: %s", job.pk, image.pk, exc)
            continue
        kept.append(inst.phrase_index)
    return kept


def _summarise(job: Job, found: dict[str, int], engine: str) -> None:
    job.summary = {"engine": engine, "found": dict(found)}
    Job.objects.filter(pk=job.pk).update(summary=job.summary)
