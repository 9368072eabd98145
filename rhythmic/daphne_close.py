"""Let daphne send the close reason an ASGI application gives (``websocket.close`` with ``reason``).

daphne (4.2.3, the latest) drops the reason: its ``serverClose`` sends the code alone, so clients read 4401
and 4403 with an empty reason and no hint of what to do. Installed from ``rhythmic.asgi`` when daphne is the
server (its protocol module is loaded before the application); a daphne that passes reasons itself is left alone.
"""

import inspect
import sys


def install() -> bool:
    """Make the running daphne send close reasons; True when it does (now or already)."""
    module = sys.modules.get("daphne.ws_protocol")
    if module is None:  # another server (uvicorn sends reasons), or a test calling the application directly
        return False
    protocol = module.WebSocketProtocol
    if getattr(protocol, "_rhythmic_close_reason", False):
        return True
    if "reason" in inspect.signature(protocol.serverClose).parameters:  # fixed upstream: nothing to do
        return True
    original = protocol.handle_reply

    def handle_reply(self, message):
        reason = message.get("reason") if message.get("type") == "websocket.close" else None
        if reason and self.state != self.STATE_CONNECTING:
            # As daphne's serverClose, with the reason (autobahn truncates it to the 123 bytes a frame holds).
            code = message.get("code")
            self.sendClose(code=1000 if code is None else code, reason=str(reason))
            return
        original(self, message)

    protocol.handle_reply = handle_reply
    protocol._rhythmic_close_reason = True
    return True
