"""Whether text prompts can run, as the workers see it.

The models live on the workers, which may be other machines than the web servers, and the web
process imports neither torch nor transformers: so a worker that takes the `gpu` queue (where
text jobs run) checks its own files when it starts and at every sweep, and writes what it found
into the cache every process shares (CACHE_URL); the web reads that. The check only reads files
and asks importlib whether the extra is installed: it loads no model.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

log = logging.getLogger(__name__)

STATUS_KEY = "text:status"
# Engines in the order a job picks one when it names none.
ENGINES = ("sam3", "detector")
# The queue text jobs run on (services/jobs.py: MODEL_KINDS go to `gpu`).
TEXT_QUEUE = "gpu"
NO_EXTRA = (
    "the worker lacks the `text` extra (transformers): pip install 'sam-annotator[text]' "
    "with the torchvision built for its torch (README, Text prompts)"
)


def _engine_setting(engine: str) -> tuple[str, str, frozenset[str]]:
    """(setting name, its value, the model kinds it may name) of an engine."""
    if engine == "sam3":
        return "SAM3_MODEL", settings.SAM3_MODEL, frozenset({"sam3"})
    return "TEXT_DETECTOR", settings.TEXT_DETECTOR, frozenset({"owlv2", "grounding-dino"})


def shown_model(spec: str) -> str:
    """A model as the API names it: a Hugging Face id as is, a folder by its name only (a path
    on a worker tells a caller nothing they can use)."""
    return Path(spec).name if "/" in spec and Path(spec).expanduser().is_absolute() else spec


def text_engine_check(*, engine: str) -> tuple[str, str, str | None]:
    """On a worker: (setting, model spec, None) when the engine's model can be loaded here, else
    the reason in words as the third item. Reads files only."""
    # No torch, no transformers: annotator.text's locator reads config.json and the HF cache.
    from annotator.text import TextModelUnavailable, locate_text_model, text_model_kind

    setting, spec, kinds = _engine_setting(engine)
    if importlib.util.find_spec("transformers") is None:
        return setting, spec, NO_EXTRA
    try:
        kind = text_model_kind(locate_text_model(spec, setting=setting))
    except TextModelUnavailable as exc:
        return setting, spec, str(exc)
    except ValueError as exc:
        return setting, spec, f"{setting}: {exc}"
    if kind not in kinds:
        wanted = " or ".join(sorted(kinds))
        return setting, spec, f"{setting} names a {kind} model; it takes {wanted}"
    return setting, spec, None


def text_status_check() -> dict[str, Any]:
    """On a worker: each engine's model, whether it can run here, and why not."""
    engines = {}
    for engine in ENGINES:
        _, spec, reason = text_engine_check(engine=engine)
        engines[engine] = {
            "model": shown_model(spec),
            "available": reason is None,
            "reason": reason or "",
        }
    return engines


def text_status_report(*, queues: list[str] | None = None) -> dict[str, Any] | None:
    """On a worker: write this worker's check into the shared cache (a worker that does not take
    the text jobs' queue reports nothing). Kept three sweeps long, so a stopped worker's report
    fades."""
    if queues is not None and TEXT_QUEUE not in queues:
        return None
    try:
        engines = text_status_check()
    except Exception as exc:  # noqa: BLE001 - reported, not raised: the sweep must go on
        log.exception("text-prompt status check failed")
        failed = {"available": False, "reason": f"the check failed: {exc}", "model": ""}
        engines = {engine: failed for engine in ENGINES}
    report = {"engines": engines, "reported_at": timezone.now().isoformat()}
    try:
        cache.set(STATUS_KEY, report, timeout=max(3 * settings.EMBEDDING_SWEEP_SECONDS, 300))
    except Exception:  # noqa: BLE001 - the cache (Redis) is down: jobs still say why they fail
        log.warning("could not write the text-prompt status to the cache", exc_info=True)
    return report


def text_status() -> dict[str, Any]:
    """On the web: whether text prompts are available, with which engine (the first available
    of ENGINES), each engine's model, and the reason when none is."""
    try:
        report = cache.get(STATUS_KEY)
    except Exception:  # noqa: BLE001 - the cache is down: say so rather than fail the page
        report = None
        log.warning("could not read the text-prompt status from the cache", exc_info=True)
    if not report:
        return {
            "available": False,
            "engine": None,
            "engines": {},
            "reason": (
                f"no worker on the `{TEXT_QUEUE}` queue has reported on text prompts yet (each "
                "reports when it starts; the web and the workers must share CACHE_URL)"
            ),
            "reported_at": None,
        }
    engines: dict[str, Any] = report["engines"]
    engine = next((e for e in ENGINES if engines.get(e, {}).get("available")), None)
    reason = "" if engine else "; ".join(f"{e}: {engines[e]['reason']}" for e in engines)
    return {
        "available": engine is not None,
        "engine": engine,
        "engines": engines,
        "reason": reason,
        "reported_at": report.get("reported_at"),
    }
