"""Deployment history entries made by a promotion policy: automatic, with the reason (its evidence)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalogue", "0007_serving_models_moved")]

    operations = [
        migrations.AddField(model_name="deployment", name="automatic", field=models.BooleanField(default=False)),
        migrations.AddField(
            model_name="deployment", name="reason", field=models.JSONField(blank=True, default=dict)
        ),
    ]
