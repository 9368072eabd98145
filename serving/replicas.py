"""Per-process replicas of live versions, kept in step with the learn log (state machine replication).

Each server process holds, per model, the replicas it has loaded and the log sequence it has applied.
Before answering it catches up with the log head (or stays within RHYTHMIC_MAX_STALENESS_MS); a replica
loads from its latest checkpoint and replays the log tail of its version, so every process converges
on the same state and a restart loses nothing that was acknowledged.
"""

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from pympler import asizeof

from catalogue import artifacts
from catalogue.errors import Conflict, NotFound, UnknownModel
from catalogue.flavors import Flavor, get_flavor
from catalogue.models import MLModel, ModelVersion
from serving import log, observers
from serving.codec import decode_prediction
from serving.flavor_metrics import new_metrics
from serving.online_metrics import OnlineMetrics

logger = logging.getLogger(__name__)

MIB = 2**20


@dataclass
class Replica:
    """One version's live state in this process: the model, its metrics, and learn counts."""

    version_id: int
    number: int
    servable: artifacts.Servable
    metrics: OnlineMetrics
    n_learned: int = 0
    #: The applied sequence at which this replica first predicted a non-finite number (reported once).
    non_finite_seq: int | None = None
    since_checkpoint: int = 0
    #: Log entries this version does not learn (a rewind put them aside), read when the replica loads.
    skips: log.Skips = ()
    checkpointed_at: float = field(default_factory=time.monotonic)
    #: Bytes of its model and metrics (pympler's asizeof), measured at load and at each checkpoint only while
    #: RHYTHMIC_MAX_LOADED_MB is set; 0 otherwise.
    size: int = 0

    def measure(self) -> None:
        """Measure the replica's size, when a memory budget is set (asizeof walks the whole state: not free)."""
        if settings.RHYTHMIC_MAX_LOADED_MB:
            self.size = asizeof.asizeof(self.servable.obj, self.metrics)

    def apply(self, event: log.Event) -> bool:
        """Fold the event into metrics and learn it; True when the version's error stream drifted here.

        Total: whatever the metrics or the model raise is counted and logged with the entry's seq, never
        raised, so an entry is applied exactly once per replica (a replay does not meet it again) and every
        replica, applying the same entries from the same state, reaches the same outcome."""
        drifted = False
        try:
            stored = event.prediction
            # decode_prediction, inlined for a value (what a regressor's entries hold): it runs once per entry.
            prediction = (
                stored["value"] if type(stored) is dict and "proba" not in stored else decode_prediction(stored)
            )
            drifted = self.metrics.fold(event.ground_truth, prediction, seq=event.seq, features=event.features)
        except Exception:  # fold guards itself; a stored prediction it cannot even decode lands here
            self.metrics.n_skipped += 1
            logger.exception("learn #%s could not be folded into the metrics of version %s", event.seq, self.version_id)
        try:
            if self.servable.can_learn:  # a predict-only challenger is scored, not taught
                self.servable.learn(event.features, event.ground_truth)
        except Exception:
            # Deterministic on every replica (same state, same input), so they stay in step; counted, not fatal.
            self.metrics.n_learn_errors += 1
            logger.exception("learn #%s failed on version %s", event.seq, self.version_id)
        self.n_learned += 1
        self.since_checkpoint += 1
        return drifted


def canary_bucket(key: str) -> int:
    """0-9999 from the key's SHA-1: the same in every process and every restart (unlike ``hash``)."""
    return int.from_bytes(hashlib.sha1(key.encode(), usedforsecurity=False).digest()[:8], "big") % 10000


def route_of(head: log.Head) -> tuple:
    """``ModelEntry.route()`` of an entry synced to ``head``."""
    return (
        head.production_version_id,
        head.location,
        head.generation,
        head.challenger_ids,
        head.canary_version_id,
        head.canary_percent,
    )


class ModelEntry:
    """A model as this process sees it: production version, applied log sequence, loaded replicas."""

    def __init__(self, name: str, head: log.Head, *, on_load: "Callable[[ModelEntry], None] | None" = None):
        self.name = name
        #: Called (lock held) after a replica of this entry loaded: the budgets are enforced then.
        self._on_load = on_load
        self.lock = threading.RLock()
        self.model_id = head.model_id
        self.flavor: Flavor = get_flavor(head.flavor)
        #: The model's creation options (a forecaster's metrics horizon): fixed for its life, read once.
        self.options: dict = (
            MLModel.objects.filter(pk=head.model_id).values_list("options", flat=True).first() or {}
            if self.flavor.options
            else {}
        )
        self.production_version_id = head.production_version_id
        self.location = head.location
        # No replica is loaded yet, so nothing is behind: replicas replay up to this point when they load.
        self.applied_seq = head.learn_seq
        self.generation = head.generation
        self.replicas: dict[int, Replica] = {}
        self.synced_at = 0.0
        #: When a call last asked for this entry (time.monotonic): the least recently used are evicted first.
        self.used_at = time.monotonic()
        self.pending_labelled, self.pending_expired = head.pending_labelled, head.pending_expired
        self._route(head)

    def _route(self, head: log.Head) -> None:
        """Who answers and who learns beside it, as the head says."""
        self.canary_version_id, self.canary_percent = head.canary_version_id, head.canary_percent
        self.challenger_ids = head.challenger_ids
        #: production first, then the canary and the challengers: they all predict and learn every event.
        self.learning = head.learning()
        self.shadow_seq = head.shadow_seq

    # --- catching up --------------------------------------------------------------------------

    def _apply(self, replica: "Replica", event: log.Event) -> None:
        if replica.skips and log.is_skipped(event.seq, replica.skips):
            return
        if replica.apply(event):
            observers.notify(
                "drift",
                model=self.name,
                model_id=self.model_id,
                version_id=replica.version_id,
                version=replica.number,
                seq=event.seq,
                n_drifts=replica.metrics.n_drifts,
            )

    def sync(self, head: log.Head) -> None:
        """Apply every log entry up to ``head`` to the loaded replicas, in order. Call with the lock held."""
        self.production_version_id = head.production_version_id
        self.location = head.location
        self.pending_labelled, self.pending_expired = head.pending_labelled, head.pending_expired
        if head.generation != self.generation:  # a rewind: the replicas reload from the rewound checkpoints
            self.replicas.clear()
            self.generation = head.generation
        beside = {*self.challenger_ids, self.canary_version_id}
        self._route(head)
        for version_id in beside - set(self.learning) - {None}:
            self.replicas.pop(version_id, None)  # a removed challenger, an ended canary: it learns no more
        if head.learn_seq > self.applied_seq:
            shadows = {}
            if head.shadow_seq > self.applied_seq and self.replicas:
                # Before the entries: a prune deletes shadow rows only after their entries, so a hole in the
                # entries read next shows any shadow row missing here.
                shadows = log.read_shadow(
                    model_id=self.model_id,
                    after=self.applied_seq,
                    upto=head.learn_seq,
                    version_ids=list(self.replicas),
                )
            events = log.read_tail(model_id=self.model_id, after=self.applied_seq, upto=head.learn_seq)
            if len(events) < head.learn_seq - self.applied_seq:
                # Sequence numbers have no holes, so entries this process never applied were pruned (each
                # one covered by a newer checkpoint of its version): the replicas reload from those.
                self.replicas.clear()
            else:
                self._apply_entries(events, shadows)
            self.applied_seq = head.learn_seq
            self.maybe_checkpoint()
        self.synced_at = time.monotonic()

    def _apply_entries(self, events: list[log.Event], shadows: dict[int, list[tuple[int, object]]]) -> None:
        """Each entry to the replica of the version that answered it, and to those of its shadow rows with
        their own predictions."""
        for event in events:
            replica = self.replicas.get(event.version_id)
            if replica is not None:
                self._apply(replica, event)
            for version_id, prediction in shadows.get(event.seq, ()):
                replica = self.replicas.get(version_id)
                if replica is not None:
                    self._apply(replica, event._replace(version_id=version_id, prediction=prediction))

    def apply_own(self, seqs: list[int], events: list[log.Event], shadows: dict | None = None) -> bool:
        """Apply events this process just appended, if nothing else came between; else the caller syncs."""
        if not seqs or seqs[0] != self.applied_seq + 1:
            return False
        self._apply_entries(events, shadows or {})
        self.applied_seq = seqs[-1]
        if shadows:
            self.shadow_seq = max(self.shadow_seq, max(shadows))
        self.maybe_checkpoint()
        return True

    def apply_logged(self, head: log.Head, event: log.Event) -> None:
        """Apply an entry this process just appended in the statement that returned ``head`` (the model's head
        after it): as ``apply_own`` when nothing came between and nothing was rerouted, else a sync to ``head``
        (every smaller entry was committed before it: appends are serialized). Call with the lock held."""
        if self.applied_seq >= event.seq:
            return  # another thread of this process already caught up past it
        if route_of(head) == self.route() and self.apply_own([event.seq], [event]):
            self.pending_labelled, self.pending_expired = head.pending_labelled, head.pending_expired
            return
        self.sync(head)

    def route(self) -> tuple:
        """Who answers and learns, where, in which state generation: what a prediction depends on besides the
        replicas' state. Equal to ``route_of(head)`` at the same applied seq: a prediction made now is the one a
        sync to that head would give."""
        return (
            self.production_version_id,
            self.location,
            self.generation,
            self.challenger_ids,
            self.canary_version_id,
            self.canary_percent,
        )

    # --- replicas -----------------------------------------------------------------------------

    def replica(self, version_id: int) -> Replica:
        """The loaded replica of a version, loading it (checkpoint + tail replay) on first use."""
        replica = self.replicas.get(version_id)
        if replica is None:
            replica = self._load(version_id)
            self.replicas[version_id] = replica
            if self._on_load is not None:
                self._on_load(self)
        return replica

    def size(self) -> int:
        """Bytes of the loaded replicas as last measured (0 while RHYTHMIC_MAX_LOADED_MB is off)."""
        return sum(replica.size for replica in list(self.replicas.values()))

    def answering(self, key: str | None) -> Replica:
        """The replica that answers a prediction: the canary's share of keys (a stable hash, so one id always
        goes to the same version) or of keyless requests (at random); production otherwise."""
        if self.canary_version_id is not None and self.production_version_id is not None:
            if key is None:
                chosen = random.random() * 100 < self.canary_percent
            else:
                chosen = canary_bucket(key) < self.canary_percent * 100
            if chosen:
                return self.replica(self.canary_version_id)
        return self.production()

    def production(self) -> Replica:
        if self.production_version_id is None:
            raise Conflict(
                f"{self.name} has no production version: upload a version and promote it", code="no_production"
            )
        return self.replica(self.production_version_id)

    def _load(self, version_id: int) -> Replica:
        # Two columns, not a model instance; the artifact's bytes only when no checkpoint replaces them.
        versions = ModelVersion.objects.filter(pk=version_id, model_id=self.model_id)
        version = versions.values_list("number", "format").first()
        if version is None:
            raise NotFound(f"{self.name} has no such version (it may have been deleted)")
        generation = self.generation
        checkpoint = log.checkpoint_latest(version_id=version_id)
        if checkpoint is not None and checkpoint.seq > self.applied_seq:
            # Another process got further: the entries before its checkpoint may be pruned already, so
            # catch up to it (the head is at least its seq) and start from it.
            head = log.read_head(self.name)
            if head is None or head.model_id != self.model_id:
                raise NotFound(f"{self.name} was deleted")
            self.sync(head)
        if checkpoint is not None:
            obj = artifacts.load_state(bytes(checkpoint.state))
            metrics = artifacts.load_state(bytes(checkpoint.metrics))
            base, n_learned = checkpoint.seq, checkpoint.n_learned
        else:
            obj = artifacts.load_artifact(bytes(versions.values_list("artifact", flat=True).get()), version[1])
            metrics, base, n_learned = new_metrics(self.flavor, obj=obj, options=self.options), 0, 0
        replica = Replica(
            version_id=version_id,
            number=version[0],
            servable=artifacts.as_servable(obj, self.flavor),
            metrics=metrics,
            n_learned=n_learned,
            skips=log.skips(version_id),
        )
        if self.shadow_seq > base:  # the version may have learned entries it did not answer
            events = log.version_stream(
                model_id=self.model_id, version_id=version_id, after=base, upto=self.applied_seq
            )
        else:
            events = log.read_tail(model_id=self.model_id, after=base, upto=self.applied_seq, version_id=version_id)
        for event in events:
            self._apply(replica, event)
        if log.checkpoint_latest_seq(version_id=version_id) > base or self.generation != generation:
            # Written while this one replayed: a prune may have taken part of the tail it read; or a rewind
            # (seen by the catch-up above) may have deleted the checkpoint it started from. Start again.
            return self._load(version_id)
        replica.measure()
        return replica

    def maybe_checkpoint(self) -> None:
        every = settings.RHYTHMIC_CHECKPOINT_EVERY
        seconds = settings.RHYTHMIC_CHECKPOINT_SECONDS
        now = time.monotonic()
        for replica in self.replicas.values():
            due = replica.since_checkpoint >= every or (
                replica.since_checkpoint and now - replica.checkpointed_at >= seconds
            )
            if due:
                self.checkpoint(replica)

    def checkpoint(self, replica: Replica) -> bool:
        """Store the replica's state; False when a rewind came since this entry last synced (refused)."""
        stored = log.checkpoint_write(
            version_id=replica.version_id,
            seq=self.applied_seq,
            n_learned=replica.n_learned,
            state=artifacts.dump_state(replica.servable.obj),
            metrics=artifacts.dump_state(replica.metrics),
            generation=self.generation,
        )
        if stored:
            replica.since_checkpoint = 0
            replica.checkpointed_at = time.monotonic()
            replica.measure()  # its state grows as it learns
        return stored


class Replicas:
    """All model entries of this process (one per ``ServingProcess``).

    Two budgets, each enforced when set: RHYTHMIC_MAX_LOADED_MODELS (models) and RHYTHMIC_MAX_LOADED_MB (the
    measured size of their replicas). Loading past either evicts the least recently used idle models: their
    replicas are dropped, and their next call loads them again as a restarted process would (latest checkpoint
    + the log tail), so an eviction loses nothing that was learned."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, ModelEntry] = {}
        #: Models evicted for the budgets since this process started (or was reset).
        self.evictions = 0
        #: Models (by id) already reported as larger than the memory budget on their own.
        self._oversize: set[int] = set()

    def entry(self, name: str, *, fresh: bool = True) -> ModelEntry:
        """The model's entry, caught up with the log head (or within the staleness bound).

        Callers take ``entry.lock`` around anything that reads or changes its replicas.
        """
        entry = self._entries.get(name)
        if entry is not None:
            entry.used_at = time.monotonic()
            if not fresh:
                return entry
        bound = settings.RHYTHMIC_MAX_STALENESS_MS / 1000
        if entry is not None and bound and time.monotonic() - entry.synced_at < bound:
            return entry
        head = log.read_head(name)
        if head is None:
            self.forget(name)
            raise UnknownModel(f"no model named {name!r}")
        created = False
        with self._lock:
            entry = self._entries.get(name)
            if entry is None or entry.model_id != head.model_id:  # new, or deleted and created again
                entry = self._entries[name] = ModelEntry(name, head, on_load=self._loaded)
                created = True
        if created:
            self._evict(keep=entry)
        with entry.lock:
            entry.sync(head)
        return entry

    def _loaded(self, entry: ModelEntry) -> None:
        """A replica of ``entry`` loaded (its lock held): its measured size may take the total past the budget."""
        budget = settings.RHYTHMIC_MAX_LOADED_MB
        if budget and entry.model_id not in self._oversize and entry.size() > budget * MIB:
            self._oversize.add(entry.model_id)
            logger.warning(
                "model %r alone takes %.3f MiB of replicas, more than RHYTHMIC_MAX_LOADED_MB=%s: it stays loaded "
                "while it is used, and every other idle model is evicted",
                entry.name,
                entry.size() / MIB,
                budget,
            )
        self._evict(keep=entry)

    def _evict(self, *, keep: ModelEntry) -> None:
        """Past RHYTHMIC_MAX_LOADED_MODELS or RHYTHMIC_MAX_LOADED_MB, drop the least recently used entries other
        than ``keep`` until both hold (or no idle entry is left).

        Only an idle entry goes (its lock free: no call is reading or changing it). A thread that got it just
        before still serves from it, consistently; the log holds whatever it appends, and the entry loaded next
        replays it. Nothing is written: an evicted replica's state is its latest checkpoint plus its log tail,
        which the log keeps until a newer checkpoint covers it (serving.retention)."""
        most = settings.RHYTHMIC_MAX_LOADED_MODELS
        budget = int(settings.RHYTHMIC_MAX_LOADED_MB * MIB)
        if not (most and len(self._entries) > most) and not (budget and self.loaded_bytes() > budget):
            return
        with self._lock:
            excess = len(self._entries) - most if most else 0
            surplus = self.loaded_bytes() - budget if budget else 0
            idle_first = sorted((e for e in self._entries.values() if e is not keep), key=lambda e: e.used_at)
            for victim in idle_first:
                if excess <= 0 and surplus <= 0:
                    break
                if not victim.lock.acquire(blocking=False):
                    continue  # in use: not idle
                try:
                    size = victim.size()
                    if excess <= 0 and not size:
                        continue  # over the memory budget only, and evicting it would free nothing
                    if self._entries.get(victim.name) is victim:
                        del self._entries[victim.name]
                        self.evictions += 1
                        excess -= 1
                        surplus -= size
                finally:
                    victim.lock.release()

    def loaded_bytes(self) -> int:
        """The measured size of every loaded replica (0 while RHYTHMIC_MAX_LOADED_MB is off)."""
        return sum(entry.size() for entry in list(self._entries.values()))

    def cached(self, name: str) -> ModelEntry | None:
        """The model's entry as this process last saw it, without reading the head (None: not loaded)."""
        entry = self._entries.get(name)
        if entry is not None:
            entry.used_at = time.monotonic()  # a call through the fast paths uses it too (eviction's LRU)
        return entry

    def forget(self, name: str | None = None) -> None:
        with self._lock:
            if name is None:
                self._entries.clear()
                self.evictions = 0
                self._oversize.clear()
            else:
                self._entries.pop(name, None)

    def loaded(self) -> dict[str, ModelEntry]:
        return dict(self._entries)
