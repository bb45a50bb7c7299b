import contextlib

from django.db import migrations, models


def sizes_from_storage(apps, schema_editor):
    """Existing images count with their stored size (one that cannot be read counts as 0)."""
    Image = apps.get_model("annotator", "Image")
    for image in Image.objects.only("pk", "file").iterator():
        with contextlib.suppress(Exception):
            Image.objects.filter(pk=image.pk).update(file_size=image.file.size)


class Migration(migrations.Migration):
    dependencies = [
        ("annotator", "0005_multihost_embedding_error_code"),
    ]

    operations = [
        migrations.AddField(
            model_name="image",
            name="file_size",
            field=models.BigIntegerField(default=0),
        ),
        migrations.RunPython(sizes_from_storage, migrations.RunPython.noop),
    ]
