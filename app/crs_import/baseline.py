"""A CRS key's usage aggregates as hourly baseline entries that our reports sum exactly.

CRS keeps counters per key and per key+model for local hours (7 days), days (32 days), months
(a year) and all time, and cost as integer micro-USD in the model hashes beside USD strings per
key. Each count is placed at the start (in UTC) of the finest bucket that still holds it: an
hour's counts at that hour, what a day holds beyond its kept hours at the day's start, what a
month holds beyond its kept days at the month's start, and what all time holds beyond the kept
months at the key's creation. Counts go to their model; what the key's own counters hold beyond
its models' goes to the model "(unknown)". No per-request events are invented.

So the entries add up to the source's all-time totals: requests and tokens exactly, and cost to
its `usage:cost:total` string at 8 places, the micro-USD rounding of the model costs being
settled on the key's largest entry.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from app.crs_import.crs_source import CrsCost, CrsUsageBucket

UNKNOWN_MODEL = "(unknown)"
MODEL_LENGTH = 200
LEVELS = ("alltime", "monthly", "daily", "hourly")
PLACES = Decimal(1).scaleb(-8)
MICRO = Decimal(1).scaleb(-6)
ZERO = (0, 0, 0, 0, 0, 0)  # requests, input, output, cache create, cache read, all tokens
_COST_LEVELS = {"total": "alltime", "monthly": "monthly", "daily": "daily", "hourly": "hourly"}


@dataclass(frozen=True)
class Entry:
    hour: datetime
    model: str
    counts: tuple[int, ...]
    cost: Decimal


@dataclass
class KeyUsage:
    """Everything the source holds about one key's usage, as read."""

    key_id: str
    # (level, bucket label) -> model (None: the key's own counters) -> (counts, rated micro-USD)
    nodes: dict = field(default_factory=lambda: defaultdict(dict))
    starts: dict = field(default_factory=dict)
    costs: dict = field(default_factory=dict)  # (level, label) -> rated USD

    def add_bucket(self, b: CrsUsageBucket) -> None:
        node = (b.granularity, b.bucket)
        counts = (b.requests, b.input_tokens, b.output_tokens, b.cache_create_tokens,
                  b.cache_read_tokens, b.all_tokens)
        model = b.model[:MODEL_LENGTH] if b.model is not None else None
        self.nodes[node][model] = (counts, b.rated_cost_micro)
        self.starts[node] = b.start_utc

    def add_cost(self, c: CrsCost) -> None:
        if c.kind == "rated":
            node = (_COST_LEVELS[c.granularity], c.bucket)
            self.costs[node] = c.usd.quantize(PLACES)
            self.starts.setdefault(node, c.start_utc)


def _parent(level: str, label: str) -> tuple[str, str | None]:
    if level == "hourly":
        return "daily", label[:10]
    if level == "daily":
        return "monthly", label[:7]
    return "alltime", None


def _minus(a: tuple, b: tuple) -> tuple:
    return tuple(x - y for x, y in zip(a, b, strict=True))


def _plus(a: tuple, b: tuple) -> tuple:
    return tuple(x + y for x, y in zip(a, b, strict=True))


def _tolerance(requests: int) -> Decimal:
    # Each request's model cost is rounded to a micro-dollar: at most half of one off.
    return MICRO * max(requests, 1)


class _Planner:
    def __init__(self, usage: KeyUsage, placed_before: datetime):
        self.usage = usage
        self.notes: list[str] = []
        # node -> model -> (counts, cost); filled from the finest level up.
        self.amounts: dict = {}
        self.children: dict = defaultdict(list)
        for level, label in usage.nodes.keys() | usage.costs.keys():
            node = (level, label)
            while node[0] != "alltime":
                parent = _parent(*node)
                if node not in self.children[parent]:
                    self.children[parent].append(node)
                node = parent
        self.placed_before = placed_before

    def amount(self, node) -> dict:
        """Per model, what the node holds: its own counters where the source kept them, else
        the sum of its children."""
        if node in self.amounts:
            return self.amounts[node]
        below: dict = defaultdict(lambda: (ZERO, Decimal(0)))
        for child in self.children.get(node, []):
            for model, (counts, cost) in self.amount(child).items():
                counts_below, cost_below = below[model]
                below[model] = (_plus(counts_below, counts), cost_below + cost)
        kept = self.usage.nodes.get(node, {})
        found = dict(below)
        for model, (counts, micro) in kept.items():
            if model is not None:
                found[model] = (counts, (micro or 0) * MICRO)
        own = kept.get(None)
        modelled = [v for m, v in found.items() if m not in (None, UNKNOWN_MODEL)]
        counted = tuple(sum(c[i] for c, _ in modelled) for i in range(len(ZERO)))
        if own is not None:
            rest = _minus(own[0], counted)
            found[UNKNOWN_MODEL] = (tuple(max(0, x) for x in rest), found.get(
                UNKNOWN_MODEL, (ZERO, Decimal(0)))[1])
            if min(rest) < 0:
                self.notes.append(f"{node[0]} {node[1] or ''}: the models count more than the "
                                  "key; the key's counters lose")
        if node in self.usage.costs:
            priced = sum((c for m, (_, c) in found.items() if m != UNKNOWN_MODEL), Decimal(0))
            extra = self.usage.costs[node] - priced
            requests = own[0][0] if own is not None else counted[0]
            if extra > _tolerance(requests):
                counts = found.get(UNKNOWN_MODEL, (ZERO, Decimal(0)))[0]
                found[UNKNOWN_MODEL] = (counts, extra)
        self.amounts[node] = found
        return found

    def residual(self, node) -> dict:
        """What the node holds beyond its children, per model: placed at the node's start."""
        held = dict(self.amount(node))
        for child in self.children.get(node, []):
            for model, (counts, cost) in self.amount(child).items():
                counts_held, cost_held = held.get(model, (ZERO, Decimal(0)))
                held[model] = (_minus(counts_held, counts), cost_held - cost)
        out = {}
        for model, (counts, cost) in held.items():
            if min(counts) < 0 or cost < 0:
                self.notes.append(f"{node[0]} {node[1] or ''} {model}: its buckets hold more "
                                  "than their period; the difference is dropped")
            out[model] = (tuple(max(0, x) for x in counts), max(cost, Decimal(0)))
        return out

    def start(self, node) -> datetime:
        if node[0] == "alltime":
            return self.placed_before
        return self.usage.starts.get(node) or self.placed_before


def _hour(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def plan(usage: KeyUsage, *, created_at: datetime | None, now: datetime,
         total_cost: Decimal | None) -> tuple[list[Entry], list[str]]:
    """The key's baseline entries (merged per hour and model) and notes on the source's data.

    `total_cost` is the key's `usage:cost:total` (rated USD), what the entries' cost adds to.
    """
    starts = [s for (level, _), s in usage.starts.items() if level != "alltime" and s]
    earliest = min(starts, default=None)
    placed = created_at if created_at and (earliest is None or created_at < earliest) \
        else (earliest or now)
    planner = _Planner(usage, _hour(placed))
    merged: dict = {}
    nodes = {("alltime", None)} | set(usage.nodes) | set(usage.costs)
    for node in sorted(nodes, key=lambda n: (LEVELS.index(n[0]), n[1] or "")):
        hour = _hour(planner.start(node))
        for model, (counts, cost) in planner.residual(node).items():
            if any(counts) or cost:
                before_counts, before_cost = merged.get((hour, model), (ZERO, Decimal(0)))
                merged[(hour, model)] = (_plus(before_counts, counts), before_cost + cost)
    entries = [Entry(hour, model, counts, cost.quantize(PLACES))
               for (hour, model), (counts, cost) in sorted(merged.items())]
    return _settle(entries, total_cost, _hour(placed), planner.notes), planner.notes


def _settle(entries: list[Entry], total: Decimal | None, placed: datetime,
            notes: list[str]) -> list[Entry]:
    """Make the entries' cost add up to the key's total cost exactly."""
    if total is None:
        return entries
    gap = total.quantize(PLACES) - sum((e.cost for e in entries), Decimal(0))
    if not gap:
        return entries
    requests = sum(e.counts[0] for e in entries)
    if entries and (abs(gap) <= _tolerance(requests) or gap < 0):
        if abs(gap) > _tolerance(requests):
            notes.append(f"the key's total cost is {-gap} USD below its buckets' sum")
        largest = max(range(len(entries)), key=lambda i: (entries[i].cost, -i))
        e = entries[largest]
        entries[largest] = Entry(e.hour, e.model, e.counts, max(e.cost + gap, Decimal(0)))
        return entries
    return [*entries, Entry(placed, UNKNOWN_MODEL, ZERO, gap)] if gap > 0 else entries
