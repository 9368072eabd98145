"""WebSocket close codes *and reasons* as a real client reads them from a real daphne process.

The server runs on a migrated SQLite file of its own (on either test database): what is tested is daphne's
close frame, not the data, so it needs no shared database and runs on the embedded default too.
"""

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from api.ws_auth import UNAUTHENTICATED_REASON

pytestmark = pytest.mark.slow

TIMEOUT = 10.0

#: A user without catalogue.infer_mlmodel, and its token (printed).
MAKE_USER = """
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
user = get_user_model().objects.create_user("reader")
print(Token.objects.create(user=user).key)
"""


@pytest.fixture(scope="module")
def server(sqlite_site):
    """(daphne on a fresh SQLite file, the token of a user without the infer permission)."""
    daphne, manage = sqlite_site
    return daphne, manage("shell", "-c", MAKE_USER).strip().splitlines()[-1]


def closed_by(url: str, origin: str, **headers: str):
    with connect(url, origin=origin, additional_headers=headers) as socket, pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=TIMEOUT)
    return closed.value.rcvd


@pytest.mark.parametrize("path", ["/ws/events/", "/ws/models/live/metrics/", "/ws/models/live/infer/"])
def test_a_socket_without_credentials_is_closed_4401_with_the_reason_saying_how_to_log_in(server, path):
    daphne, _ = server
    close = closed_by(daphne.url.replace("http://", "ws://") + path, daphne.url)
    assert (close.code, close.reason) == (4401, UNAUTHENTICATED_REASON)


def test_a_user_without_the_infer_permission_is_closed_4403_with_the_permission_to_ask_for(server):
    daphne, token = server
    url = daphne.url.replace("http://", "ws://") + "/ws/models/live/infer/"
    close = closed_by(url, daphne.url, Authorization=f"Token {token}")
    assert close.code == 4403
    assert "catalogue.infer_mlmodel" in close.reason
