"""The learn log, pending predictions and checkpoints, moved from catalogue: created in the state only, on
the tables catalogue made (catalogue/migrations/0007 forgets them there)."""

import catalogue.fields
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('catalogue', '0007_serving_models_moved'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Checkpoint',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('seq', models.BigIntegerField()),
                        ('n_learned', models.PositiveBigIntegerField(default=0)),
                        ('state', models.BinaryField()),
                        ('metrics', models.BinaryField()),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('version', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='checkpoints', to='catalogue.modelversion')),
                    ],
                    options={
                        'db_table': 'catalogue_checkpoint',
                        'ordering': ['version', '-seq'],
                        'constraints': [models.UniqueConstraint(fields=('version', 'seq'), name='unique_checkpoint_seq')],
                    },
                ),
                migrations.CreateModel(
                    name='LearnEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('seq', models.BigIntegerField()),
                        ('key', models.CharField(blank=True, max_length=200, null=True)),
                        ('features', catalogue.fields.JSONTextField()),
                        ('ground_truth', catalogue.fields.JSONTextField(null=True)),
                        ('prediction', catalogue.fields.JSONTextField(null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('model', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='learn_events', to='catalogue.mlmodel')),
                        ('version', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='learn_events', to='catalogue.modelversion')),
                    ],
                    options={
                        'db_table': 'catalogue_learnevent',
                        'ordering': ['model', 'seq'],
                        'indexes': [models.Index(fields=['version', 'seq'], name='learn_version_seq'), models.Index(fields=['model', 'key'], name='learn_model_key')],
                        'constraints': [models.UniqueConstraint(fields=('model', 'seq'), name='unique_learn_seq')],
                    },
                ),
                migrations.CreateModel(
                    name='PendingPrediction',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('key', models.CharField(max_length=200)),
                        ('features', catalogue.fields.JSONTextField()),
                        ('prediction', catalogue.fields.JSONTextField(null=True)),
                        ('created_at', models.DateTimeField()),
                        ('model', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='pending_predictions', to='catalogue.mlmodel')),
                        ('version', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='catalogue.modelversion')),
                    ],
                    options={
                        'db_table': 'catalogue_pendingprediction',
                        'indexes': [models.Index(fields=['created_at'], name='pending_created')],
                        'constraints': [models.UniqueConstraint(fields=('model', 'key'), name='unique_pending_key')],
                    },
                ),
            ],
            database_operations=[],
        )
    ]
