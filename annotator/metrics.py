"""Prometheus metrics at /metrics: queue depth, embeddings, jobs and request latency.

The web process and the workers are separate processes, often on separate machines, that share
only PostgreSQL, Redis and S3. So everything a worker does is read at scrape time from what it
leaves behind, not counted inside the worker: the Embedding and Job rows (status, the
`compute_seconds` of each embedding, a job's `created_at` and `finished_at`) and the broker's
queues. Any web process can then answer a scrape with the whole installation's numbers, and
nothing in the workers needs an exporter of its own.

Only request latency is counted in-process (it happens in the web process). Gunicorn runs
several of those: with PROMETHEUS_MULTIPROC_DIR set (deploy/gunicorn.conf.py empties it at
start), prometheus-client shares their counts through files in that folder.

Counts taken from rows follow the rows: deleting images lowers them, which Prometheus's rate()
reads as a counter reset, not as negative work.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import REGISTRY, CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from annotator.models import Embedding, Job

log = logging.getLogger(__name__)

# Seconds; an embedding takes ~0.05 s (GPU, batched) to ~10 s (ViT-B on a small CPU).
EMBEDDING_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Seconds; exports and auto-annotation run from seconds to hours.
JOB_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0)

REQUEST_SECONDS = Histogram(
    "sam_http_request_duration_seconds",
    "Time the web process took to answer a request, by route pattern (not path), method and "
    "status code.",
    ["route", "method", "status"],
)


class RequestLatencyMiddleware:
    """Times every request. The label is the route pattern that resolved it
    (`api/images/<int:pk>/embedding`), never the raw path: one series per route rather than
    one per image id. Requests no route resolved (static files, 404s) share one label."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        start = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None else "<unresolved>"
        REQUEST_SECONDS.labels(route, request.method or "", str(response.status_code)).observe(
            time.perf_counter() - start
        )
        return response


def _histogram(
    name: str,
    documentation: str,
    labels: list[str],
    rows: Iterable[tuple[list[str], list[int], int, float]],
    buckets: tuple[float, ...],
) -> HistogramMetricFamily:
    """A histogram from (label values, cumulative count per bucket, total count, sum) rows."""
    family = HistogramMetricFamily(name, documentation, labels=labels)
    for values, cumulative, count, total in rows:
        pairs = [(repr(bound), n) for bound, n in zip(buckets, cumulative, strict=True)]
        family.add_metric(values, [*pairs, ("+Inf", count)], total)
    return family


class DatabaseCollector:
    """Embeddings and jobs as the rows say, aggregated in a few queries per scrape."""

    def collect(self) -> Iterator[Metric]:
        yield from self._embeddings()
        yield from self._jobs()

    def _embeddings(self) -> Iterator[Metric]:
        by_status = GaugeMetricFamily(
            "sam_embeddings", "Embedding rows by status.", labels=["status"]
        )
        counts = {
            row["status"]: row["n"]
            for row in Embedding.objects.values("status").annotate(n=Count("id"))
        }
        for status in Embedding.Status.values:
            by_status.add_metric([status], counts.get(status, 0))
        yield by_status

        # Every claim adds an attempt; each one that did not end in `ready` (or is not still
        # running) failed: the final failures and those that were retried.
        failed = Embedding.objects.aggregate(
            n=Sum("attempts", filter=Q(status__in=["failed", "pending"]), default=0)
            + Sum(
                F("attempts") - 1,
                filter=Q(status__in=["ready", "running"], attempts__gt=0),
                default=0,
            )
        )["n"]
        yield GaugeMetricFamily(
            "sam_embedding_failed_attempts",
            "Embedding attempts that failed (final failures and retried ones), over the rows "
            "now in the database.",
            value=failed,
        )

        ready = Embedding.objects.filter(status="ready", compute_seconds__isnull=False)
        aggregates = {
            f"le{i}": Count("id", filter=Q(compute_seconds__lte=b))
            for i, b in enumerate(EMBEDDING_BUCKETS)
        }
        row = ready.aggregate(
            n=Count("id"), total=Sum("compute_seconds", default=0.0), **aggregates
        )
        cumulative = [row[f"le{i}"] for i in range(len(EMBEDDING_BUCKETS))]
        yield _histogram(
            "sam_embedding_compute_seconds",
            "Seconds a worker spent computing each ready embedding (its share of a batch).",
            [],
            [([], cumulative, row["n"], float(row["total"]))],
            EMBEDDING_BUCKETS,
        )

    def _jobs(self) -> Iterator[Metric]:
        by_status = GaugeMetricFamily(
            "sam_jobs", "Job rows by kind and status.", labels=["kind", "status"]
        )
        counts = Job.objects.values("kind", "status").annotate(n=Count("id"))
        seen = {(c["kind"], c["status"]): c["n"] for c in counts}
        for kind in Job.Kind.values:
            for status in Job.Status.values:
                by_status.add_metric([kind, status], seen.get((kind, status), 0))
        yield by_status

        duration = ExpressionWrapper(
            F("finished_at") - F("created_at"), output_field=DurationField()
        )
        finished = Job.objects.filter(finished_at__isnull=False).annotate(duration=duration)
        aggregates = {
            f"le{i}": Count("id", filter=Q(duration__lte=timedelta(seconds=b)))
            for i, b in enumerate(JOB_BUCKETS)
        }
        rows = finished.values("kind", "status").annotate(
            n=Count("id"), total=Sum("duration"), **aggregates
        )
        yield _histogram(
            "sam_job_duration_seconds",
            "Seconds from a job's creation to its end (time waiting in the queue included), by "
            "kind and final status.",
            ["kind", "status"],
            [
                (
                    [r["kind"], r["status"]],
                    [r[f"le{i}"] for i in range(len(JOB_BUCKETS))],
                    r["n"],
                    _seconds(r["total"]),
                )
                for r in rows
            ],
            JOB_BUCKETS,
        )


def _seconds(value: timedelta | float | None) -> float:
    # SQLite's Sum of a duration comes back as microseconds on some Django versions.
    if value is None:
        return 0.0
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value) / 1e6


def queue_depths(queues: Iterable[str]) -> dict[str, int]:
    """Messages waiting in each queue, asked of the broker within CELERY_BROKER_TIMEOUT.

    A passive declare is the transport's own count (Redis: LLEN over the priority lists; the
    folder broker: its message files), so this works for whatever broker the settings name.
    Raises what the transport raises when the broker is down."""
    from amqp.exceptions import NotFound
    from kombu.exceptions import ChannelError

    from webapp.celery import app

    depths: dict[str, int] = {}
    with app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=0)
        for queue in queues:
            channel = conn.channel()
            try:
                depths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
            except (ChannelError, NotFound):
                # Redis keeps no empty list: a queue with nothing waiting does not exist there.
                depths[queue] = 0
            finally:
                channel.close()
    return depths


class BrokerCollector:
    """Queue depth per queue the settings route work to; `sam_broker_up` 0 when the broker
    does not answer (then no depth is reported rather than a made-up one)."""

    def collect(self) -> Iterator[Metric]:
        queues = sorted({settings.CELERY_TASK_DEFAULT_QUEUE, settings.SAM_EMBEDDING_QUEUE})
        up = GaugeMetricFamily("sam_broker_up", "1 if the broker answered this scrape, else 0.")
        try:
            depths = queue_depths(queues)
        except Exception as exc:  # noqa: BLE001 - whatever the transport raises, it is down
            log.warning("metrics: broker unavailable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily(
            "sam_queue_depth", "Messages waiting in a Celery queue.", labels=["queue"]
        )
        for queue, count in depths.items():
            depth.add_metric([queue], count)
        yield depth


class _InProcess:
    """This process's own metrics (or, in multiprocess mode, every web process's)."""

    def collect(self) -> Iterator[Metric]:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            yield from registry.collect()
        else:
            yield from REGISTRY.collect()


def exposition(accept: str = "") -> tuple[bytes, str]:
    """Every metric, collected now, in the format the scraper's Accept header asks for
    (Prometheus's text format by default, OpenMetrics when asked); returns (body, type)."""
    registry = CollectorRegistry()
    for collector in (_InProcess(), DatabaseCollector(), BrokerCollector()):
        registry.register(collector)
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type


def _may_read(request: HttpRequest) -> bool:
    """Staff (the admin's users), or a scraper presenting METRICS_TOKEN as a bearer token."""
    if request.user.is_authenticated and request.user.is_staff:
        return True
    token = settings.METRICS_TOKEN
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return (
        bool(token)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(presented.strip().encode(), token.encode())
    )


@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    # Queue names, row counts and timings describe the installation: operators only.
    if not _may_read(request):
        return JsonResponse({"detail": "Staff or the metrics bearer token only."}, status=403)
    body, content_type = exposition(request.headers.get("Accept", ""))
    return HttpResponse(body, content_type=content_type)
