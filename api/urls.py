"""Routes of the REST API under /api/v1/, one list per route group (rhythmic/urls.py mounts this at api/)."""

from django.urls import include, path

from api.routes import collection
from api.views import catalogue, lifecycle, rewind

app_name = "api"


catalogue_routes = [
    *collection("models/", catalogue.ModelListView, "model-list"),
    *collection("models/<str:name>/", catalogue.ModelDetailView, "model-detail"),
    *collection("models/<str:name>/versions/", catalogue.VersionListView, "version-list"),
    *collection("models/<str:name>/versions/<str:number>/", catalogue.VersionDetailView, "version-detail"),
    path(
        "models/<str:name>/versions/<str:number>/artifact",
        catalogue.VersionArtifactView.as_view(),
        name="version-artifact",
    ),
    path("models/<str:name>/versions/<str:number>/promote", catalogue.PromoteView.as_view(), name="version-promote"),
    path("models/<str:name>/versions/<str:number>/retire", catalogue.RetireView.as_view(), name="version-retire"),
    path("models/<str:name>/versions/<str:number>/validate", catalogue.ValidateView.as_view(), name="version-validate"),
    path("models/<str:name>/versions/<str:number>/rewind", rewind.RewindView.as_view(), name="version-rewind"),
    path("models/<str:name>/rollback", catalogue.RollbackView.as_view(), name="model-rollback"),
    path("models/<str:name>/deployments", catalogue.DeploymentListView.as_view(), name="model-deployments"),
    *collection("models/<str:name>/challengers/", lifecycle.ChallengerListView, "challenger-list"),
    *collection("models/<str:name>/challengers/<str:number>/", lifecycle.ChallengerDetailView, "challenger-detail"),
    path("models/<str:name>/canary", lifecycle.CanaryView.as_view(), name="model-canary"),
    *collection("locations/", catalogue.LocationListView, "location-list"),
]

urlpatterns = [
    path("v1/", include(catalogue_routes)),
    path("v1/", include("api.views.monitoring")),  # metric history, alert rules, alerts
    path("v1/", include("api.views.backtests")),
    path("v1/", include("api.views.deployments")),  # deploys (deployment tasks)
    path("v1/", include("api.views.training")),  # training jobs
    path("v1/", include("api.views.policies")),  # promotion policies
    path("v1/", include("api.views.datasets")),
    path("v1/", include("api.views.pipelines")),
    path("v1/", include("api.views.instances")),  # production instances
]
