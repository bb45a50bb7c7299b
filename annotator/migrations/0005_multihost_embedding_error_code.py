from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotator", "0004_job_lease"),
    ]

    operations = [
        migrations.AddField(
            model_name="embedding",
            name="error_code",
            field=models.CharField(blank=True, max_length=32),
        ),
    ]
