"""Open Inference Protocol v2 (REST) views: health, server and model metadata, readiness, infer, and learn.

Thin calls into the serving core, with the REST API's authentication, permissions and throttles; errors in the
protocol's shape ``{"error": "message"}``. ``POST /v2/models/{name}/learn`` is Rhythmic's extension.
"""

import io
import json

from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from django.http.request import RawPostDataException
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

import serving
from api.errors import exception_handler
from api.oip import schemas, tensors
from api.oip.outputs import metadata_inputs, metadata_outputs, prediction_outputs
from api.parsers import JSONParser
from api.permissions import CanInfer
from catalogue.errors import CODES, InvalidInput, RhythmicError
from serving import versioned

#: What ``GET /v2`` lists beside the core protocol: Triton's binary tensors and Rhythmic's learn route.
EXTENSIONS = ["binary_tensor_data", "rhythmic_learn"]
STATUS_OF = {code: status for status, code in CODES.items()}


def oip_exception_handler(exc, context):
    """The project's handler, with the body the protocol specifies: ``{"error": "what to fix"}``."""
    response = exception_handler(exc, context)
    if response is not None:
        error = response.data.get("error") if isinstance(response.data, dict) else None
        response.data = {"error": error.get("message") if isinstance(error, dict) else str(response.data)}
    return response


class OipView(APIView):
    renderer_classes = [JSONRenderer]

    def get_exception_handler(self):
        return oip_exception_handler


def _version(number: str | None) -> int | None:
    if number is None:
        return None
    try:
        return int(number)
    except ValueError:
        raise InvalidInput(f"a model version is a whole number, not {number!r}", field="version") from None


@extend_schema(summary="Server metadata", responses={200: schemas.SERVER_METADATA}, tags=["open inference protocol"])
class ServerMetadataView(OipView):
    permission_classes = [AllowAny]

    def get(self, request):
        version = settings.SPECTACULAR_SETTINGS["VERSION"]
        return Response({"name": "rhythmic", "version": version, "extensions": EXTENSIONS})


@extend_schema(summary="Server liveness", responses={200: schemas.LIVE}, tags=["open inference protocol"])
class LiveView(OipView):
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"live": True})


@extend_schema(
    summary="Server readiness: 200 when the database answers",
    responses={200: schemas.READY, 503: schemas.ERROR},
    tags=["open inference protocol"],
)
class ReadyView(OipView):
    permission_classes = [AllowAny]

    def get(self, request):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception as exc:  # any database failure means not ready
            return Response({"error": f"the database does not answer: {exc}"}, status=503)
        return Response({"ready": True})


@extend_schema(
    summary="Model metadata: inputs named after the version's input example",
    responses={200: schemas.MODEL_METADATA, **schemas.ERRORS},
    tags=["open inference protocol"],
)
class ModelMetadataView(OipView):
    permission_classes = [IsAuthenticated]

    def get(self, request, name: str, number: str | None = None):
        live = versioned.live(model=name, version=_version(number))
        return Response(
            {
                "name": name,
                "versions": [str(v) for v in live.versions],
                "platform": f"rhythmic/{live.flavor}",
                "inputs": metadata_inputs(live.input_example),
                "outputs": metadata_outputs(live.flavor),
            }
        )


@extend_schema(
    summary="Model readiness: 200 when the version (or production) answers, 4xx otherwise",
    responses={200: schemas.MODEL_READY, **schemas.ERRORS},
    tags=["open inference protocol"],
)
class ModelReadyView(OipView):
    permission_classes = [IsAuthenticated]

    def get(self, request, name: str, number: str | None = None):
        versioned.ready(model=name, version=_version(number))
        return Response({"name": name, "ready": True})


def _body(request) -> tuple[dict, bytes]:
    """(JSON header, binary data) of a request: the JSON checks of every route, and Triton's binary tensors."""
    try:
        raw = request.body
    except RawPostDataException:  # a form, already read by the CSRF check of a browser session
        raise InvalidInput('send the body as JSON (or binary tensors), not a form: {"inputs": [...]}') from None
    header, binary = tensors.split_body(raw, request.headers.get("Inference-Header-Content-Length"))
    try:
        body = JSONParser().parse(io.BytesIO(header))
    except Exception as exc:  # ParseError: bad JSON, NUL characters, too deep
        raise InvalidInput(str(getattr(exc, "detail", exc))) from None
    if not isinstance(body, dict):
        raise InvalidInput('the body must be a JSON object, like {"inputs": [...]}')
    request_id = body.get("id")
    if request_id is not None and (isinstance(request_id, bool) or not isinstance(request_id, str | int)):
        raise InvalidInput(f"id must be a string, not {request_id!r}", field="id")
    return body, binary


def _row_ids(request_id, count: int) -> list | None:
    """Row i of a request with an id is kept for a learn as "<id>:<i>"."""
    return None if request_id is None else [f"{request_id}:{i}" for i in range(count)]


def _row_failure(index: int, error: RhythmicError) -> RhythmicError:
    where = f"row {index}" + (f" ({error.field})" if error.field else "")
    return RhythmicError(f"{where}: {error.message}", status=error.status, code=error.code)


def _version_label(versions: list[int]) -> str:
    """The response's model_version: the one that answered, or each of them when a canary answered some rows."""
    return ",".join(str(v) for v in dict.fromkeys(versions))


def _respond(body: dict, response: dict, tensors_out: list[dict]) -> HttpResponse:
    """The JSON response, or with binary outputs (as asked) its JSON header followed by their bytes."""
    asked = body.get("outputs")
    if asked is not None:
        if not isinstance(asked, list) or not all(
            isinstance(o, dict) and isinstance(o.get("name"), str) for o in asked
        ):
            raise InvalidInput('outputs must be a list of {"name": ...}', field="outputs")
        by_name = {t["name"]: t for t in tensors_out}
        unknown = [o["name"] for o in asked if o["name"] not in by_name]
        if unknown:
            raise InvalidInput(
                f"no output named {', '.join(map(repr, unknown))}; this model has: {', '.join(by_name)}",
                field="outputs",
            )
        wanted = {o["name"]: (o.get("parameters") or {}) for o in asked}
        tensors_out = [t for t in tensors_out if t["name"] in wanted]
    else:
        wanted = {}
    parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    all_binary = parameters.get("binary_data_output") is True
    chunks = []
    for tensor in tensors_out:
        own = wanted.get(tensor["name"], {})
        if (own.get("binary_data") if isinstance(own, dict) and "binary_data" in own else all_binary) is True:
            raw = tensors.to_binary(tensor)
            del tensor["data"]
            tensor["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
    response["outputs"] = tensors_out
    text = json.dumps(response).encode()
    if not chunks:
        return HttpResponse(text, content_type="application/json")
    reply = HttpResponse(text + b"".join(chunks), content_type="application/octet-stream")
    reply["Inference-Header-Content-Length"] = str(len(text))
    return reply


@extend_schema(
    summary="Infer: one tensor per feature, n rows; outputs prediction (and proba_<class> for a classifier)",
    request=schemas.INFER_REQUEST,
    responses={200: schemas.INFER_RESPONSE, **schemas.ERRORS},
    tags=["open inference protocol"],
)
class InferView(OipView):
    permission_classes = [CanInfer]

    def post(self, request, name: str, number: str | None = None):
        version = _version(number)
        body, binary = _body(request)
        count, inputs = tensors.read_inputs(body.get("inputs"), binary)
        rows = tensors.rows_of(count, inputs)
        answered = versioned.predict_rows(model=name, rows=rows, ids=_row_ids(body.get("id"), count), version=version)
        for index, result in enumerate(answered.results):
            if isinstance(result, RhythmicError):
                raise _row_failure(index, result)
        response = {"model_name": name, "model_version": _version_label([r.version for r in answered.results])}
        if body.get("id") is not None:
            response["id"] = body["id"]
        predictions = [r.prediction for r in answered.results]
        return _respond(body, response, prediction_outputs(answered.flavor, predictions))


GROUND_TRUTH = "ground_truth"


@extend_schema(
    summary="Rhythmic's extension: learn ground truths, by the id of an infer request or with feature tensors",
    request=schemas.LEARN_REQUEST,
    responses={200: schemas.LEARN_RESPONSE, **schemas.ERRORS},
    tags=["open inference protocol"],
)
class LearnView(OipView):
    permission_classes = [CanInfer]

    def post(self, request, name: str):
        body, binary = _body(request)
        count, inputs = tensors.read_inputs(body.get("inputs"), binary)
        truths = next((t for t in inputs if t.name == GROUND_TRUTH), None)
        features = [t for t in inputs if t.name != GROUND_TRUTH]
        request_id = body.get("id")
        if request_id is not None:
            if features:
                raise InvalidInput(
                    "with the id of an infer request, send only the ground_truth tensor: the rows' features were "
                    "kept at infer",
                    field="inputs",
                )
            items = [{"id": key} for key in _row_ids(request_id, count)]
        else:
            if not features:
                raise InvalidInput(
                    "send the id of the infer request, or one tensor per feature beside ground_truth", field="inputs"
                )
            items = [{"features": row} for row in tensors.rows_of(count, features)]
        if truths is not None:
            for item, truth in zip(items, truths.values, strict=True):
                item["ground_truth"] = truth
        results = serving.learn_many(model=name, items=items)
        _learned_or_refused(results)
        response = {"model_name": name, "model_version": _version_label([r["version"] for r in results])}
        if request_id is not None:
            response["id"] = request_id
        outputs = [tensors.output("seq", [r["seq"] for r in results])]
        return _respond(body, response, outputs)


def _learned_or_refused(results: list[dict]) -> None:
    """Each row is learned on its own: a refused row fails the request, saying which rows were learned anyway."""
    failed = [(i, r["error"]) for i, r in enumerate(results) if "error" in r]
    if not failed:
        return
    index, error = failed[0]
    learned = [f"{i} (seq {r['seq']})" for i, r in enumerate(results) if "error" not in r]
    where = f"row {index}" + (f" ({error['field']})" if error.get("field") else "")
    done = f"; rows learned all the same: {', '.join(learned)}" if learned else ""
    raise RhythmicError(
        f"{where}: {error['message']}{done}", status=STATUS_OF.get(error["code"], 400), code=error["code"]
    )
