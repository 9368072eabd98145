"""Top-level URL routes: the admin, the REST API and its docs, the pages."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from api.errors import api_not_found
from api.health import healthz, livez
from api.oip.views import ServerMetadataView
from api.views.monitoring import prometheus_metrics

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("livez", livez, name="livez"),
    path("metrics", prometheus_metrics, name="prometheus-metrics"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("api/", include("api.serving_urls")),
    path("api/", include("api.urls")),
    re_path(r"^api/(?P<path>.*)$", api_not_found),
    # The Open Inference Protocol v2 (KServe, Triton, MLServer clients)
    path("v2", ServerMetadataView.as_view(), name="oip-server"),
    path("v2/", include("api.oip.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("dashboard.urls")),
]

handler500 = "api.errors.server_error"
