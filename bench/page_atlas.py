"""The hover-atlas part of bench/page_latency.py, in the same run and on the same image.

The page is opened twice, each time in a fresh browser context (an empty HTTP cache):

- "before": as the page was before atlases: the atlas answers 404 and the client sends
  Accept-Encoding: identity, so the embedding comes uncompressed;
- "atlas": the atlas computed here (as the worker's follow-up task does) and gzip accepted.

For each: bytes of the embedding and atlas responses on the wire (Chromium's encoded body
sizes), time from navigation start to the first mask painted while the mouse moves over the
image, a sweep at display rate (hover-to-first-paint, painted fraction of positions, the
worker's decode time per second of hovering: the sum of the decode times it reported, dropped
answers included; multiply by its threads for CPU time), then cursor rests (--rest-s: long enough for a decode under the machine's load)
(hover-to-exact-paint from the last move, and the IoU of the atlas mask shown first with the
exact one replacing it).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.common import percentile

PASSWORD = "bench-pw"


def _q(values: list[float], p: float) -> float:
    return percentile(values, p, interpolate=True) if values else float("nan")


def _open(browser: Any, base: str, image_id: int, *, before: bool) -> tuple[Any, Any, dict]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    page = context.new_page()
    if before:
        page.set_extra_http_headers({"Accept-Encoding": "identity"})
        page.route("**/api/images/*/atlas", lambda route: route.fulfill(status=404, body="{}"))
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", "bench")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    responses: list[Any] = []
    page.on(
        "response", lambda r: ("/embedding" in r.url or "/atlas" in r.url) and responses.append(r)
    )
    page.goto(f"{base}/images/{image_id}/annotate/")
    page.wait_for_function(
        "(() => { try { return window.annotator.imageSize()[0] > 0; } catch { return false; } })()",
        timeout=120000,
    )
    h, w = page.evaluate("window.annotator.imageSize()")
    deadline = time.monotonic() + 180
    i = 0
    while page.evaluate("window.annotator.latencies().firstPaintAt") in (None, float("inf")):
        if time.monotonic() > deadline:
            raise SystemExit("no hover paint within 180 s of opening the image")
        x, y = w * (0.3 + 0.4 * (i % 7) / 6), h * (0.3 + 0.4 * (i % 5) / 4)
        page.mouse.move(*page.evaluate(f"window.annotator.imageToClient({x}, {y})"))
        time.sleep(0.016)
        i += 1
    first = page.evaluate("window.annotator.latencies().firstPaintAt")
    page.wait_for_function("document.getElementById('annotate').dataset.ready === 'true'")
    sizes: dict[str, int] = {}
    for r in responses:
        if r.status == 200:
            kind = "atlas" if "/atlas" in r.url else "embedding"
            sizes[kind] = sizes.get(kind, 0) + r.request.sizes()["responseBodySize"]
    return context, page, {"first_paint_ms": first, "bytes": sizes}


def _measure(
    page: Any, sweep: Callable, path: Callable, n: int, rests: int, interval: float, rest_s: float
) -> dict:
    points = path(page, n)
    sweep(page, points[:30], interval)  # warm-up
    started = time.perf_counter()
    moving = sweep(page, points, interval)
    seconds = time.perf_counter() - started - 1.0  # run_sweep waits 1 s after the last move
    page.evaluate("window.annotator.resetLatencies()")
    step = max(1, len(points) // rests)
    for x, y in points[::step][:rests]:
        page.mouse.move(x, y)
        time.sleep(rest_s)
    rested = page.evaluate("window.annotator.latencies()")
    return {"moving": moving, "seconds": seconds, "rested": rested}


def atlas_part(
    browser: Any, base: str, image_id: int, *, grid: int, sweep: Callable, path: Callable,
    rests: int, interval: float, n: int, rest_s: float = 0.8,
) -> str:  # fmt: skip
    from annotator import services
    from annotator.models import Embedding

    ctx, page, before = _open(browser, base, image_id, before=True)
    before.update(_measure(page, sweep, path, n, rests, interval, rest_s))
    ctx.close()

    from django.conf import settings

    settings.SAM_ATLAS_GRID_CPU = grid
    row = Embedding.objects.get(image_id=image_id)
    outcome = services.atlas_compute(embedding_ids=[row.pk], force=True)
    row.refresh_from_db()
    if outcome["ready"] != [row.pk]:
        raise SystemExit(f"atlas failed: {row.atlas_error}")
    atlas_bytes, atlas_seconds = row.atlas.size, row.atlas_seconds

    ctx, page, after = _open(browser, base, image_id, before=False)
    after.update(_measure(page, sweep, path, n, rests, interval, rest_s))
    ctx.close()
    # Before once more, last: what differs between the first and this row is the run's order
    # (a warmer process, the atlas computation in between), not the atlas.
    ctx, page, again = _open(browser, base, image_id, before=True)
    again.update(_measure(page, sweep, path, n, rests, interval, rest_s))
    ctx.close()
    return _table(before, after, again, grid=grid, atlas_bytes=atlas_bytes, atlas_s=atlas_seconds)


def _table(
    before: dict, after: dict, again: dict, *, grid: int, atlas_bytes: int, atlas_s: float
) -> str:
    def line(name: str, r: dict) -> str:
        m, rest = r["moving"], r["rested"]
        first = m["atlasPaint"] or m["paint"]
        covered = (
            m["covered"] / m["moves"] if m["atlasPaint"] else len(m["paint"]) / max(1, m["moves"])
        )
        wire = sum(r["bytes"].values())
        return (
            f"| {name} | {wire:,} | {r['first_paint_ms']:.0f} | {_q(first, 0.5):.1f} | "
            f"{_q(first, 0.9):.1f} | {covered:.2f} | {m['exactSent'] / r['seconds']:.1f} | "
            f"{m['busyMs'] / r['seconds']:.0f} | "
            f"{_q(rest['paint'], 0.5):.1f} | "
            f"{_q(rest['decode'], 0.5):.1f} / {_q(rest['overhead'], 0.5):.1f} | "
            f"{statistics.fmean(rest['atlasIou']) if rest['atlasIou'] else float('nan'):.2f} |"
        )

    return "\n".join(
        [
            f"\nhover atlas: grid {grid}, {atlas_bytes:,} bytes, {atlas_s:.1f} s to compute here (CPU)\n",
            "| page | embedding + atlas bytes on the wire | open -> first hover paint (ms) "
            "| hover-to-first-paint p50 (ms) | p90 (ms) | painted fraction of positions "
            "| exact decodes sent per s | worker decode ms per s of hovering "
            "| hover-to-exact-paint at rest p50 (ms) | at rest: decode / reply-to-frame p50 (ms) "
            "| IoU atlas vs exact |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            line("before (no atlas, identity)", before),
            line("atlas + gzip", after),
            line("before, again (last)", again),
        ]
    )
