"""`make run`'s server: uvicorn serving rhythmic.onesite (HTTP, WebSockets and server-sent events) on HOST:PORT.

    python -m rhythmic.serve        # HOST (127.0.0.1), PORT (8000); RHYTHMIC_ACCESS_LOG=1 logs every request

Chosen by measurement over granian, daphne and gunicorn (bench/stacks.py, bench/README.md).
"""

import os
import sys

import uvicorn


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rhythmic.settings")
    from django.conf import settings

    # How long a thread may keep the GIL while another waits for it (Python's default: 5 ms). A request thread
    # that finishes while monitoring's worker or the event loop holds the GIL waits that long: 0.5 ms gave
    # 1.35x the pairs/s and a p99 of 5.1 ms instead of 7.2 (bench/stacks.py, bench/README.md).
    sys.setswitchinterval(float(os.environ.get("RHYTHMIC_SWITCH_INTERVAL", "0.0005")))

    uvicorn.run(
        "rhythmic.onesite:application",
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
        # A client's own X-Forwarded-For must not change the address throttles and login lockouts count.
        proxy_headers=False,
        # uvicorn refuses a bigger message with 1009 before the application sees it.
        ws_max_size=settings.RHYTHMIC_WS_MAX_FRAME_BYTES,
        access_log=os.environ.get("RHYTHMIC_ACCESS_LOG", "0") in ("1", "true", "yes", "on"),
        # Open event streams never end on their own: Ctrl-C closes them after this many seconds.
        timeout_graceful_shutdown=5,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
