"""Work time: how long each member worked on a project, read from what they did (the
dashboard's "time" column). A read beside selectors.py, in its layer."""

from __future__ import annotations

from django.db import connection

from annotator.models import Annotation, Image, Project, ReviewEvent

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
