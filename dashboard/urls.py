"""Routes of the server-rendered pages (mounted at the site root)."""

from django.urls import path

from dashboard import (
    backtest_views,
    dataset_views,
    instance_views,
    lifecycle_views,
    monitoring_views,
    pipeline_views,
    rewind_views,
    training_views,
    views,
)

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("new/", views.model_create, name="model-create"),
    path("models/<str:name>/", views.model_detail, name="model"),
    path("models/<str:name>/edit/", views.model_update, name="model-update"),
    path("models/<str:name>/delete/", views.model_delete, name="model-delete"),
    path("models/<str:name>/rollback/", views.model_rollback, name="model-rollback"),
    path("models/<str:name>/rewind/", rewind_views.rewind, name="rewind"),
    path("models/<str:name>/compare/", views.compare, name="compare"),
    path("models/<str:name>/challengers/", lifecycle_views.challenger_add, name="challenger-add"),
    path(
        "models/<str:name>/challengers/<int:number>/remove/",
        lifecycle_views.challenger_remove,
        name="challenger-remove",
    ),
    path("models/<str:name>/canary/", lifecycle_views.canary_set, name="canary-set"),
    path("models/<str:name>/canary/end/", lifecycle_views.canary_end, name="canary-end"),
    path("models/<str:name>/versions/new/", views.version_upload, name="version-upload"),
    path("models/<str:name>/versions/<int:number>/promote/", views.version_promote, name="version-promote"),
    path("models/<str:name>/versions/<int:number>/deploy/", views.version_deploy, name="version-deploy"),
    path("models/<str:name>/versions/<int:number>/retire/", views.version_retire, name="version-retire"),
    path("models/<str:name>/monitoring/", monitoring_views.monitoring, name="monitoring"),
    path("models/<str:name>/monitoring/stats.json", monitoring_views.monitoring_stats, name="monitoring-stats"),
    path(
        "models/<str:name>/alerts/<int:alert_id>/acknowledge/",
        monitoring_views.alert_acknowledge,
        name="alert-acknowledge",
    ),
    path("models/<str:name>/backtests/", backtest_views.backtest_start, name="backtest-start"),
    path("models/<str:name>/backtests/<int:pk>/cancel/", backtest_views.backtest_cancel, name="backtest-cancel"),
    path("models/<str:name>/jobs/", training_views.jobs, name="jobs"),
    path("models/<str:name>/jobs/start/", training_views.job_start, name="job-start"),
    path("models/<str:name>/jobs/<int:pk>/cancel/", training_views.job_cancel, name="job-cancel"),
    path("datasets/", dataset_views.dataset_list, name="datasets"),
    path("datasets/new/", dataset_views.dataset_upload, name="dataset-upload"),
    path("datasets/from-log/", dataset_views.dataset_from_model, name="dataset-from-log"),
    path("datasets/<int:pk>/", dataset_views.dataset_detail, name="dataset"),
    path("datasets/<int:pk>/delete/", dataset_views.dataset_delete, name="dataset-delete"),
    path("pipelines/", pipeline_views.pipeline_list, name="pipelines"),
    path("new-pipeline/", pipeline_views.pipeline_create, name="pipeline-create"),
    path("pipelines/<str:name>/", pipeline_views.pipeline_detail, name="pipeline"),
    path(
        "pipelines/<str:name>/versions/new/",
        pipeline_views.pipeline_version_create,
        name="pipeline-version-create",
    ),
    path(
        "pipelines/<str:name>/versions/<int:number>/promote/",
        pipeline_views.pipeline_promote,
        name="pipeline-promote",
    ),
    path("pipelines/<str:name>/rollback/", pipeline_views.pipeline_rollback, name="pipeline-rollback"),
    path("pipelines/<str:name>/score/", pipeline_views.pipeline_score, name="pipeline-score"),
    path("instances/", instance_views.instance_list, name="instances"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/locations/", views.location_create, name="location-create"),
    path("settings/locations/<str:name>/default/", views.location_default, name="location-default"),
    path("settings/token/", views.token_issue, name="token-issue"),
    path("settings/token/revoke/", views.token_revoke, name="token-revoke"),
]
