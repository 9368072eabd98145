"""Rewinding a version's live state: back to right after a log entry, or without chosen (poisoned) entries.

The undone entries stay in the log for audit and are recorded as skipped for that version (``VersionSkip``);
the version's checkpoints that include them are deleted, and the model's state generation is bumped, so
every process drops its replicas on its next read of the head and reloads: nearest checkpoint before the
rewind point, then the version's entries without the skipped ones. A preview rebuilds the same in memory.
"""

from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from catalogue import artifacts
from catalogue.errors import Conflict, InvalidInput
from catalogue.flavors import get_flavor
from catalogue.models import MLModel, ModelVersion
from serving import log
from serving.flavor_metrics import new_metrics
from serving.inference import metrics
from serving.models import Checkpoint, LearnEvent, Rewind, ShadowPrediction, VersionSkip
from serving.replicas import Replica

MAX_SKIP = 10_000  # seqs in one skip list


@dataclass
class Plan:
    """What a rewind does: the ranges it adds to the version's skips, the point its state is rebuilt from."""

    head_seq: int
    to_seq: int | None
    skip: list[int]
    ranges: list[tuple[int, int]]
    point: int  # the state is rebuilt from the version's newest checkpoint at or before this entry
    n_undone: int


def _clean(to_seq: Any, skip: Any) -> tuple[int | None, list[int]]:
    if (to_seq is None) == (skip is None):
        raise InvalidInput(
            'send either "to_seq" (back to right after that log entry) or "skip" (a list of log entries to '
            "leave out), not both and not neither"
        )
    if to_seq is not None:
        if isinstance(to_seq, bool) or not isinstance(to_seq, int) or to_seq < 0:
            raise InvalidInput(
                f"to_seq must be a log sequence number (a whole number >= 0), not {to_seq!r}", field="to_seq"
            )
        return to_seq, []
    if not isinstance(skip, list) or not skip:
        raise InvalidInput("skip must be a non-empty list of log sequence numbers, like [41, 42]", field="skip")
    if len(skip) > MAX_SKIP:
        raise InvalidInput(f"skip holds at most {MAX_SKIP} seqs; use to_seq to undo a longer tail", field="skip")
    if any(isinstance(seq, bool) or not isinstance(seq, int) or seq < 1 for seq in skip):
        raise InvalidInput("skip must list log sequence numbers (whole numbers >= 1)", field="skip")
    return None, sorted(set(skip))


def _ranges(seqs: list[int]) -> list[tuple[int, int]]:
    """Sorted seqs as inclusive runs: [3, 4, 5, 9] -> [(3, 5), (9, 9)]."""
    runs: list[tuple[int, int]] = []
    for seq in seqs:
        if runs and runs[-1][1] == seq - 1:
            runs[-1] = (runs[-1][0], seq)
        else:
            runs.append((seq, seq))
    return runs


def _labels(seqs: list[int], limit: int = 10) -> str:
    shown = ", ".join(f"#{seq}" for seq in seqs[:limit])
    return shown + (f" and {len(seqs) - limit} more" if len(seqs) > limit else "")


def _plan(*, model: MLModel, version: ModelVersion, head: int, to_seq: int | None, skip: list[int]) -> Plan:
    label = f"{model.name} v{version.number}"
    existing = log.skips(version.pk)
    learned = LearnEvent.objects.filter(version_id=version.pk)
    shadowed = ShadowPrediction.objects.filter(version_id=version.pk)  # entries it learned beside another version
    if to_seq is not None:
        if to_seq > head:
            raise InvalidInput(f"to_seq #{to_seq} is beyond the log head #{head}", field="to_seq")
        seqs = [
            *learned.filter(seq__gt=to_seq, seq__lte=head).values_list("seq", flat=True),
            *shadowed.filter(seq__gt=to_seq, seq__lte=head).values_list("seq", flat=True),
        ]
        n_undone = sum(1 for seq in seqs if not log.is_skipped(seq, existing))
        if not n_undone:
            raise Conflict(f"nothing to undo: {label} learned no entry after #{to_seq}", code="nothing_to_undo")
        ranges, point, upto = [(to_seq + 1, head)], to_seq, to_seq
    else:
        beyond = [seq for seq in skip if seq > head]
        if beyond:
            raise InvalidInput(f"skip: {_labels(beyond)} not in the log (its head is #{head})", field="skip")
        found = dict(LearnEvent.objects.filter(model_id=model.pk, seq__in=skip).values_list("seq", "version_id"))
        gone = [seq for seq in skip if seq not in found]
        if gone:
            raise InvalidInput(
                f"skip: {_labels(gone)} are no longer in the learn log (pruned by retention)", field="skip"
            )
        beside = set(shadowed.filter(seq__in=skip).values_list("seq", flat=True))
        others = [seq for seq in skip if found[seq] != version.pk and seq not in beside]
        if others:
            raise InvalidInput(f"skip: {_labels(others)} were not learned by {label}", field="skip")
        done = [seq for seq in skip if log.is_skipped(seq, existing)]
        if done:
            raise Conflict(f"skip: {_labels(done)} are already skipped by {label}", code="nothing_to_undo")
        ranges, point, upto, n_undone = _ranges(skip), skip[0] - 1, head, len(skip)
    checkpoint = log.checkpoint_latest(version_id=version.pk, upto=point)
    base = checkpoint.seq if checkpoint is not None else 0
    # The log has no holes but where retention pruned: the state can be rebuilt only if nothing after the base
    # that the replay needs is gone (conservative: a hole of another version's entry refuses too).
    present = LearnEvent.objects.filter(model_id=model.pk, seq__gt=base, seq__lte=upto).count()
    if present < upto - base:
        kept = sorted(Checkpoint.objects.filter(version_id=version.pk, seq__lte=head).values_list("seq", flat=True))
        where = f"its checkpoint at #{base}" if checkpoint is not None else "its artifact"
        earliest = f"#{kept[0]}" if kept else "none (it has no checkpoint left)"
        also = f"; a checkpoint's seq always works: {_labels(kept)}" if len(kept) > 1 else ""
        raise Conflict(
            f"{label} cannot be rebuilt at #{point}: it would start from {where} and the learn log after it is "
            f"pruned; the earliest seq it can be rewound to is {earliest}{also}",
            code="log_pruned",
        )
    return Plan(head, to_seq, skip, ranges, point, n_undone)


def _same_model(model: MLModel, version: ModelVersion) -> None:
    if version.model_id != model.pk:
        raise InvalidInput(f"v{version.number} is a version of another model than {model.name}", field="version")


def _head(model: MLModel) -> int:
    return MLModel.objects.values_list("learn_seq", flat=True).get(pk=model.pk)


def version_rewind(
    *, model: MLModel, version: ModelVersion, to_seq: Any = None, skip: Any = None, user=None, reason: str = ""
) -> Rewind:
    """Bring ``version``'s live state back to right after log entry ``to_seq``, or to what it would be without
    the entries of ``skip``; every process reloads it. The entries stay in the log; the rewind is audited."""
    to_seq, skip = _clean(to_seq, skip)
    _same_model(model, version)
    if not isinstance(reason, str) or len(reason) > 500:
        raise InvalidInput("reason must be text of at most 500 characters", field="reason")
    with transaction.atomic():
        # The model row first, as appends take it: every entry up to the head is committed, none comes between.
        # The bumped generation tells every process to reload.
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {log.MODEL} SET state_generation = state_generation + 1 "  # noqa: S608
                "WHERE id = %s RETURNING learn_seq",
                [model.pk],
            )
            head = cursor.fetchone()[0]
        # Then the version row, which checkpoint writers share (log.lock_generation): none stores the old state.
        ModelVersion.objects.select_for_update().filter(pk=version.pk).values_list("pk", flat=True).first()
        plan = _plan(model=model, version=version, head=head, to_seq=to_seq, skip=skip)
        VersionSkip.objects.bulk_create(VersionSkip(version=version, from_seq=a, to_seq=b) for a, b in plan.ranges)
        Checkpoint.objects.filter(version_id=version.pk, seq__gt=plan.point).delete()
        return Rewind.objects.create(
            model=model,
            version=version,
            user=user,
            to_seq=plan.to_seq,
            skip=plan.skip,
            head_seq=head,
            n_undone=plan.n_undone,
            reason=reason,
        )


def version_rewind_preview(*, model: MLModel, version: ModelVersion, to_seq: Any = None, skip: Any = None) -> dict:
    """What the rewind would do, without doing it: how many entries it undoes and the version's metrics now
    (in this process) beside after (rebuilt in memory from the nearest checkpoint and the log)."""
    to_seq, skip = _clean(to_seq, skip)
    _same_model(model, version)
    plan = _plan(model=model, version=version, head=_head(model), to_seq=to_seq, skip=skip)
    now = metrics(model=model.name, version=version.number)
    after = rebuild(model=model, version=version, skips=(*log.skips(version.pk), *plan.ranges), point=plan.point)
    return {
        "model": model.name,
        "version": version.number,
        "to_seq": plan.to_seq,
        "skip": plan.skip,
        "head_seq": plan.head_seq,
        "n_undone": plan.n_undone,
        "now": {"state_seq": now["state_seq"], "n_learned": now["n_learned"], "metrics": now["metrics"]},
        "after": {"state_seq": plan.head_seq, "n_learned": after.n_learned, "metrics": after.metrics.values()},
    }


def rebuild(*, model: MLModel, version: ModelVersion, skips: log.Skips, point: int, upto: int | None = None) -> Replica:
    """The version's state from its newest checkpoint at or before ``point``, then its entries up to ``upto``
    (the head) without ``skips``: what a replica loads after the rewind, built here without saving anything."""
    flavor = get_flavor(model.flavor)
    upto = _head(model) if upto is None else upto
    checkpoint = log.checkpoint_latest(version_id=version.pk, upto=point)
    if checkpoint is not None:
        obj, state = artifacts.load_state(bytes(checkpoint.state)), artifacts.load_state(bytes(checkpoint.metrics))
        base, n_learned = checkpoint.seq, checkpoint.n_learned
    else:
        stored = ModelVersion.objects.only("artifact", "format").get(pk=version.pk)
        obj = artifacts.load_artifact(bytes(stored.artifact), stored.format)
        state, base, n_learned = new_metrics(flavor, obj=obj, options=model.options), 0, 0
    replica = Replica(
        version_id=version.pk,
        number=version.number,
        servable=artifacts.as_servable(obj, flavor),
        metrics=state,
        n_learned=n_learned,
        skips=skips,
    )
    tail = log.version_stream(model_id=model.pk, version_id=version.pk, after=base, upto=upto)
    for event in log.without_skipped(tail, skips):
        replica.apply(event)
    return replica


def rewind_list(*, model: MLModel, version: ModelVersion | None = None):
    """The model's rewinds (of ``version``), newest first."""
    rewinds = Rewind.objects.filter(model=model).select_related("version", "user")
    return rewinds.filter(version=version) if version is not None else rewinds
