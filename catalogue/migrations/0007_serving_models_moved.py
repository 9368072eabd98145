"""LearnEvent, PendingPrediction and Checkpoint moved to the serving app: catalogue forgets them, their tables stay."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalogue", "0006_label_coverage")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="LearnEvent"),
                migrations.DeleteModel(name="PendingPrediction"),
                migrations.DeleteModel(name="Checkpoint"),
            ],
            database_operations=[],
        )
    ]
