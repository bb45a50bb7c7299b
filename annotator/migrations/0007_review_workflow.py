# The review state machine's records (annotator/services/review.py): every decision, issues
# pinned to a point or an annotation, and the per-project self-review switch.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

STATUSES = [
    ("new", "New"),
    ("in_progress", "In progress"),
    ("submitted", "Submitted"),
    ("accepted", "Accepted"),
    ("rejected", "Rejected"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("annotator", "0006_image_file_size"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="project",
            name="allow_self_review",
            field=models.BooleanField(default=False),
        ),
        migrations.CreateModel(
            name="ReviewEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),  # noqa: E501
                ("action", models.CharField(max_length=16)),
                ("from_status", models.CharField(choices=STATUSES, max_length=16)),
                ("to_status", models.CharField(choices=STATUSES, max_length=16)),
                ("comment", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "image",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="review_events",
                        to="annotator.image",
                    ),
                ),  # noqa: E501
                (
                    "user",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),  # noqa: E501
            ],
            options={"ordering": ["id"]},
        ),
        migrations.CreateModel(
            name="ReviewIssue",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),  # noqa: E501
                ("x", models.FloatField(blank=True, null=True)),
                ("y", models.FloatField(blank=True, null=True)),
                ("text", models.TextField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("resolved_at", models.DateTimeField(blank=True, null=True)),
                (
                    "annotation",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="review_issues",
                        to="annotator.annotation",
                    ),
                ),  # noqa: E501
                (
                    "created_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),  # noqa: E501
                (
                    "image",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="review_issues",
                        to="annotator.image",
                    ),
                ),  # noqa: E501
                (
                    "resolved_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),  # noqa: E501
            ],
            options={"ordering": ["id"]},
        ),
    ]
