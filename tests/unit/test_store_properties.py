"""Property-based: whatever order announcements, resyncs, miss-fills, invalidations,
evictions and expiries happen in, the store never serves a version older than one it has
been told about, stays within its bounds, and a fresh read always lands.

The model is PostgreSQL's change log: every commit gets the next sequence number, and a
read at snapshot S sees each order's latest version with a sequence at most S.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from query.informer.store import CachedOrder, OrderStore, entry_size

KEYS = ("a", "b", "c", "d", "e")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def body(key: str, version: int) -> bytes:
    # Sizes vary with the version, so the byte budget evicts differently over time.
    return f"{key}:{version}:".encode() + b"x" * (version * 37 % 300)


class StoreMachine(RuleBasedStateMachine):
    @initialize(
        max_entries=st.integers(1, 6),
        budget_entries=st.integers(1, 6),
        ttl=st.sampled_from([5.0, 1000.0]),
    )
    def start(self, max_entries: int, budget_entries: int, ttl: float) -> None:
        self.clock = Clock()
        self.max_bytes = budget_entries * entry_size("a", CachedOrder(1, 1, "created", b"x" * 200))
        self.store = OrderStore(
            max_entries=max_entries,
            max_bytes=self.max_bytes,
            ttl_seconds=ttl,
            not_found_ttl_seconds=1.0,
            clock=self.clock,
        )
        self.log: list[tuple[str, int]] = []  # seq - 1 → (key, version)
        self.versions: dict[str, int] = {}
        self.told: dict[str, int] = {}  # the newest version the store was ever offered
        self.told_seq: dict[str, int] = {}

    # -- PostgreSQL ----------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        return len(self.log)

    def truth_at(self, key: str, snapshot: int) -> tuple[int, int] | None:
        """(version, seq) of `key` as a read at `snapshot` sees it."""
        for seq in range(snapshot, 0, -1):
            logged_key, version = self.log[seq - 1]
            if logged_key == key:
                return version, seq
        return None

    def entry(self, key: str, version: int, seq: int) -> CachedOrder:
        return CachedOrder(version, seq, "created", body(key, version))

    def offered(self, key: str, version: int, seq: int) -> None:
        self.told[key] = max(self.told.get(key, 0), version)
        self.told_seq[key] = max(self.told_seq.get(key, 0), seq)

    def not_found(self, key: str, snapshot: int) -> bool:
        remembered = self.store.mark_missing(key, snapshot)
        # Anything offered so far is either visible at the snapshot (so the read would
        # have found it) or newer, and then "not found" is stale and must not be kept.
        assert not remembered or key not in self.told_seq, (key, snapshot, self.told_seq)
        return remembered

    @rule(key=st.sampled_from(KEYS))
    def commit(self, key: str) -> None:
        self.versions[key] = self.versions.get(key, 0) + 1
        self.log.append((key, self.versions[key]))

    # -- What reaches the store, in any order, late or twice ------------------------------

    @precondition(lambda self: self.log)
    @rule(data=st.data())
    def announce(self, data: st.DataObject) -> None:
        seq = data.draw(st.integers(1, self.last_seq))
        key, version = self.log[seq - 1]
        self.store.apply(key, self.entry(key, version, seq))
        self.offered(key, version, seq)

    @precondition(lambda self: self.log)
    @rule(data=st.data())
    def announce_without_document(self, data: st.DataObject) -> None:
        seq = data.draw(st.integers(1, self.last_seq))
        key, version = self.log[seq - 1]
        self.store.invalidate(key, version, seq)
        self.offered(key, version, seq)

    @rule(key=st.sampled_from(KEYS), data=st.data())
    def read_at_some_snapshot(self, key: str, data: st.DataObject) -> None:
        """A miss-fill or resync that read at an older snapshot and lands only now."""
        snapshot = data.draw(st.integers(0, self.last_seq))
        found = self.truth_at(key, snapshot)
        if found is None:
            self.not_found(key, snapshot)
        else:
            version, seq = found
            self.store.apply(key, self.entry(key, version, seq), as_of=snapshot)
            self.offered(key, version, seq)

    @rule(key=st.sampled_from(KEYS))
    def fresh_read_lands(self, key: str) -> None:
        found = self.truth_at(key, self.last_seq)
        if found is None:
            assert self.not_found(key, self.last_seq)
            assert self.store.is_known_missing(key)
            return
        version, seq = found
        entry = self.entry(key, version, seq)
        self.store.apply(key, entry, as_of=self.last_seq)
        self.offered(key, version, seq)
        if entry_size(key, entry) <= self.max_bytes:
            held = self.store.peek(key)
            assert held is not None and held.version == version

    @rule(key=st.sampled_from(KEYS))
    def request(self, key: str) -> None:
        held = self.store.get(key)
        assert held is None or held.body == body(key, held.version)

    @rule(seconds=st.sampled_from([0.5, 3.0, 10.0]))
    def time_passes(self, seconds: float) -> None:
        self.clock.now += seconds

    # -- Always ---------------------------------------------------------------------------

    @invariant()
    def never_older_than_told(self) -> None:
        if not hasattr(self, "store"):
            return
        for key in KEYS:
            held = self.store.peek(key)
            if held is not None:
                assert held.version >= self.told.get(key, 0), (key, held, self.told)

    @invariant()
    def within_bounds(self) -> None:
        if not hasattr(self, "store"):
            return
        assert len(self.store) <= self.store.max_entries
        assert 0 <= self.store.nbytes <= self.max_bytes

    @invariant()
    def announced_orders_are_not_reported_missing(self) -> None:
        if not hasattr(self, "store"):
            return
        for key in KEYS:
            if self.store.peek(key) is not None:
                assert not self.store.is_known_missing(key)


StoreMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
TestStoreRules = StoreMachine.TestCase
