"""The inference permission rule is one (api.permissions.may_infer): REST, chantilly's routes and the streaming
socket let in exactly the same users, with and without RHYTHMIC_PUBLIC_INFERENCE."""

import dill
import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from rest_framework.authtoken.models import Token
from river import linear_model, preprocessing

from catalogue import services
from catalogue.models import CompatWorkspace
from rhythmic.asgi import application
from tests import factories
from tests.conftest import client_for

pytestmark = pytest.mark.django_db(transaction=True)  # the socket reads the database in another thread


@pytest.fixture
def live(db):
    model = factories.MLModelFactory(name="taxi")
    version = factories.ModelVersionFactory(
        model=model, artifact=dill.dumps(preprocessing.StandardScaler() | linear_model.LinearRegression())
    )
    services.deployment_promote(version=version)
    space = CompatWorkspace.objects.create(pk=1, flavor="regression", default_model=model)
    space.members.add(model)
    return model


def _socket_accepts(user) -> bool:
    """Whether the streaming socket answers this user's predict (False: closed with 4403)."""
    key = Token.objects.get_or_create(user=user)[0].key

    async def scenario() -> bool:
        headers = [(b"origin", b"http://testserver"), (b"authorization", f"Token {key}".encode())]
        communicator = WebsocketCommunicator(application, "/ws/models/taxi/infer/", headers=headers)
        await communicator.connect(5)
        await communicator.send_json_to({"op": "predict", "rid": 1, "features": {"km": 1.0}})
        output = await communicator.receive_output(5)
        await communicator.disconnect()
        if output["type"] == "websocket.close":
            assert output["code"] == 4403
            return False
        return True

    return async_to_sync(scenario)()


def _verdicts(user) -> tuple[bool, bool, bool]:
    client = client_for(user)
    rest = client.post("/api/v1/models/taxi/predict", {"features": {"km": 1.0}}, format="json").status_code
    chantilly = client.post("/api/predict", {"features": {"km": 1.0}}, format="json").status_code
    assert {rest, chantilly} <= {200, 403}
    return rest == 200, chantilly == 200, _socket_accepts(user)


@pytest.mark.parametrize(
    ("permissions", "public", "allowed"),
    [([], False, False), (["infer_mlmodel"], False, True), ([], True, True)],
)
def test_every_transport_lets_in_the_same_users(live, settings, permissions, public, allowed):
    settings.RHYTHMIC_PUBLIC_INFERENCE = public
    user = factories.UserFactory(permissions=permissions)
    assert _verdicts(user) == (allowed, allowed, allowed)
