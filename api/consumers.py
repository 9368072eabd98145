"""Streaming inference over a WebSocket at /ws/models/<name>/infer/: many predict/learn messages on one connection.

Each text frame is one message ``{"op": "predict"|"learn", "rid", "id"?, "features"?, "ground_truth"?,
"horizon"?}`` (the horizon: forecasting models), ``{"op": "rank", "rid", "user", "items", "context"?}``
(recommendation models) or a JSON array of them; each frame gets one answer (an array gets an array), in order,
carrying the ``rid``. The work is done by the serving core's predict_many/learn_many:
frames waiting when the worker is free go to the database thread together (up to RHYTHMIC_MAX_BATCH messages),
consecutive messages of the same op as one batch (one thread hop, one transaction).
"""

import asyncio
import json
import logging
from collections import deque
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

import serving
from api import parsers
from api.permissions import INFER_REFUSAL, may_infer
from api.ws_auth import CLOSE_UNAUTHENTICATED, UNAUTHENTICATED_REASON
from catalogue.errors import RhythmicError, error_body, failure

logger = logging.getLogger(__name__)

OPS = ("predict", "learn", "rank")
#: The keys of each op's message the core reads (the REST body of the same route); it ignores the others.
KEYS = {
    "predict": ("features", "id", "horizon"),
    "learn": ("features", "id", "ground_truth"),
    "rank": ("user", "items", "context"),
}
# Close codes: 4401 anonymous, 4403 missing the inference permission.
UNAUTHORIZED, FORBIDDEN = CLOSE_UNAUTHENTICATED, 4403


def max_inflight() -> int:
    return settings.RHYTHMIC_WS_MAX_INFLIGHT


def error(rid: Any, code: str, message: str, field: str | None = None) -> dict:
    """An error answer: the one error body (catalogue.errors.error_body) with the message's ``rid``."""
    return answer_error(rid, RhythmicError(message, code=code, field=field))


def answer_error(rid: Any, exc: RhythmicError) -> dict:
    return {"rid": rid, **error_body(exc)}


# --- the synchronous part: runs in the database thread -----------------------------------------


def _check(message: Any) -> tuple[str, dict] | dict:
    """(op, core item) for a well-formed message, else its error answer."""
    if not isinstance(message, dict):
        return error(None, "invalid", 'each message must be a JSON object like {"op": "predict", "rid": 1, ...}')
    rid = message.get("rid")
    op = message.get("op")
    if op not in OPS:
        return error(rid, "invalid", f'op must be "predict", "learn" or "rank", not {op!r}', "op")
    # The message itself is the core's item: the core reads only its op's keys (KEYS), by name.
    return op, message


def _answer(rid: Any, result: dict) -> dict:
    # A failed item is already the one error body (serving's batch items): only the rid is added.
    return {"rid": rid, **result}


def _rank_each(*, model: str, items: list[dict]) -> list[dict]:
    """Rank has no batch in the core (each ranking is one read): each message is ranked, with its own error."""
    answers = []
    for item in items:
        try:
            answers.append(
                serving.rank(
                    model=model, user=item.get("user"), items=item.get("items"), context=item.get("context")
                ).as_dict()
            )
        except RhythmicError as exc:
            answers.append(error_body(exc))
    return answers


def _run(model: str, op: str, items: list[dict], handoff: "serving.Handoff | None" = None) -> list[dict]:
    try:
        if op == "rank":
            return _rank_each(model=model, items=items)
        call = serving.predict_many if op == "predict" else serving.learn_many
        return call(model=model, items=items, handoff=handoff)
    except RhythmicError as exc:  # the whole batch is refused (no such model, no production version...)
        return [error_body(exc)] * len(items)


def answer_frames(model: str, frames: list[Any]) -> list[Any]:
    """The answers to ``frames`` (each a message or a list of messages), in order.

    Consecutive valid messages of one op, across frames, go to the core as one batch of at most
    RHYTHMIC_MAX_BATCH: a predict followed by a learn of the same id still sees the predict stored first. A batch
    of predicts followed by one of learns hands its pending predictions to the learns in memory
    (serving.Handoff): what they learn is never inserted and deleted again.
    """
    limit = settings.RHYTHMIC_MAX_BATCH
    answers: list[Any] = [None] * len(frames)
    slots: list[tuple[int, int | None, Any]] = []  # (frame, position in its array or None, rid)
    runs: list[tuple[str, list[tuple[int, dict]]]] = []  # (op, [(slot, item)])
    run_op: str | None = None
    current: list[tuple[int, dict]] = []  # (slot, item)
    results: dict[int, dict] = {}

    def flush() -> None:
        if current:
            runs.append((run_op, list(current)))
            current.clear()

    for index, frame in enumerate(frames):
        if isinstance(frame, list):
            if len(frame) > limit:
                answers[index] = error(
                    None, "too_large", f"an array holds at most {limit} messages (RHYTHMIC_MAX_BATCH); got {len(frame)}"
                )
                continue
            answers[index] = [None] * len(frame)
            messages = [(position, message) for position, message in enumerate(frame)]
        else:
            messages = [(None, frame)]
        for position, message in messages:
            slot = len(slots)
            slots.append((index, position, message.get("rid") if isinstance(message, dict) else None))
            checked = _check(message)
            if isinstance(checked, dict):
                results[slot] = checked
                continue
            op, item = checked
            if op != run_op or len(current) >= limit:
                flush()
                run_op = op
            current.append((slot, item))
    flush()
    handoff = None  # predicts then learns (a stream's usual frame): the pending predictions go to the learns in memory
    for number, (op, run) in enumerate(runs):
        if op == "predict":
            learns_next = number + 1 < len(runs) and runs[number + 1][0] == "learn"
            handoff = serving.Handoff() if learns_next else None
        for (slot, _), result in zip(run, _run(model, op, [item for _, item in run], handoff), strict=True):
            results[slot] = _answer(slots[slot][2], result)
        if op != "predict":
            handoff = None
    for slot, (index, position, _) in enumerate(slots):
        if position is None:
            answers[index] = results[slot]
        else:
            answers[index][position] = results[slot]
    return answers


# --- the consumer -------------------------------------------------------------------------------


class InferenceConsumer(AsyncWebsocketConsumer):
    """One connection: frames are queued (at most RHYTHMIC_WS_MAX_INFLIGHT) and answered in order by one worker."""

    async def connect(self) -> None:
        self.model = self.scope["url_route"]["kwargs"]["name"]
        self.pending: deque = deque()
        self.inflight = 0
        self.wakeup = asyncio.Event()
        self.worker: asyncio.Task | None = None
        user = self.scope.get("user")
        # Accept before closing: a close code reaches the client only on an open connection.
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHORIZED, reason=UNAUTHENTICATED_REASON)
            return
        if not await database_sync_to_async(may_infer)(user):
            await self.close(code=FORBIDDEN, reason=INFER_REFUSAL)
            return
        self.worker = asyncio.get_running_loop().create_task(self._work())

    async def dispatch(self, message) -> None:
        if message["type"] == "websocket.receive":
            # Channels hops to the database thread before every handler (close_old_connections): a receive
            # does no database work, and that hop would queue it behind the worker's batch. The worker's
            # database_sync_to_async closes old connections around each batch itself.
            await self.websocket_receive(message)
            return
        await super().dispatch(message)

    async def disconnect(self, code) -> None:
        if self.worker is not None:
            self.worker.cancel()

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if self.worker is None:
            return  # closing: refused at connect
        if text_data is None:
            await self._send(error(None, "invalid", "send JSON text frames, not binary ones"))
            return
        try:
            frame = parsers.loads(text_data)
        except parsers.InvalidJSON as exc:
            await self._send(error(None, "invalid", f"the frame is not valid JSON: {exc}"))
            return
        if self.inflight >= max_inflight():
            # Refused at once, ahead of the queued answers: the client resends it once those arrive.
            await self._send(self._busy(frame))
            return
        self.inflight += 1
        self.pending.append(frame)
        self.wakeup.set()

    def _busy(self, frame: Any) -> Any:
        limit = max_inflight()
        message = f"{limit} frames are already waiting on this connection (RHYTHMIC_WS_MAX_INFLIGHT); resend later"
        if isinstance(frame, list):
            return [error(m.get("rid") if isinstance(m, dict) else None, "busy", message) for m in frame]
        return error(frame.get("rid") if isinstance(frame, dict) else None, "busy", message)

    async def _work(self) -> None:
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            while self.pending:
                frames = self._take()
                try:
                    answers = await database_sync_to_async(answer_frames)(self.model, frames)
                except Exception:  # a bug, not bad input: say so per frame and keep the connection
                    logger.exception("streaming inference failed on %s", self.model)
                    answers = [answer_error(None, failure(500))] * len(frames)
                for answer in answers:
                    await self._send(answer)
                    self.inflight -= 1

    def _take(self) -> list[Any]:
        """The waiting frames for one batch: the first, and those after it while their messages add up to no more
        than RHYTHMIC_MAX_BATCH. Frames left waiting keep the pipeline full: their answers follow while the client
        reads these and sends more (taking every waiting frame emptied a client's window at each batch, and both
        sides waited on each other)."""
        limit = settings.RHYTHMIC_MAX_BATCH
        frames = [self.pending.popleft()]
        size = len(frames[0]) if isinstance(frames[0], list) else 1
        while self.pending:
            following = self.pending[0]
            size += len(following) if isinstance(following, list) else 1
            if size > limit:
                break
            frames.append(self.pending.popleft())
        return frames

    async def _send(self, answer: Any) -> None:
        await self.send(text_data=json.dumps(answer, separators=(",", ":")))
