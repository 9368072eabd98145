"""Routes of the Open Inference Protocol under /v2/ (rhythmic/urls.py mounts this at v2/, and GET /v2 itself)."""

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from api.oip import views


@csrf_exempt  # else a POST would get the CSRF check's HTML 403 instead of this 404
def not_found(request, path: str = "") -> JsonResponse:
    """Unknown routes under /v2/ answer in the protocol's error shape."""
    return JsonResponse({"error": f"no Open Inference Protocol route {request.method} {request.path}"}, status=404)


model = "models/<str:name>"
version = "models/<str:name>/versions/<str:number>"

urlpatterns = [
    path("health/live", views.LiveView.as_view(), name="oip-live"),
    path("health/ready", views.ReadyView.as_view(), name="oip-ready"),
    path(f"{model}", views.ModelMetadataView.as_view(), name="oip-model"),
    path(f"{model}/ready", views.ModelReadyView.as_view(), name="oip-model-ready"),
    path(f"{model}/infer", views.InferView.as_view(), name="oip-infer"),
    path(f"{model}/learn", views.LearnView.as_view(), name="oip-learn"),
    path(f"{version}", views.ModelMetadataView.as_view(), name="oip-version"),
    path(f"{version}/ready", views.ModelReadyView.as_view(), name="oip-version-ready"),
    path(f"{version}/infer", views.InferView.as_view(), name="oip-version-infer"),
    path("<path:path>", not_found),
]
