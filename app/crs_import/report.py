"""What an import did and what its verification found, and the text the command prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

PHASES = ("keys", "accounts", "groups", "usage", "admins")
OUTCOMES = ("created", "updated", "unchanged", "skipped")


@dataclass
class PhaseResult:
    name: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    notes: list[str] = field(default_factory=list)

    def count(self, outcome: str, label: str, notes: list[str]) -> None:
        self.counts[outcome] += 1
        self.notes += [f"{label}: {note}" for note in notes]

    @property
    def changed(self) -> int:
        return self.counts["created"] + self.counts["updated"]


@dataclass(frozen=True)
class CountCheck:
    entity: str
    source: int
    imported: int
    skipped: int

    @property
    def ok(self) -> bool:
        return self.source == self.imported + self.skipped


@dataclass(frozen=True)
class TotalsCheck:
    key_id: str
    source: tuple[int, int, Decimal]  # requests, tokens, cost
    relaygate: tuple[int, int, Decimal]

    @property
    def ok(self) -> bool:
        return self.source == self.relaygate


@dataclass(frozen=True)
class ControlsCheck:
    """A key's enforced controls (model and client lists, activation, bound providers) as the
    source has them and as Relaygate enforces them."""

    key_id: str
    source: dict
    relaygate: dict

    @property
    def ok(self) -> bool:
        return self.source == self.relaygate


@dataclass
class ImportReport:
    dry_run: bool
    phases: list[PhaseResult] = field(default_factory=list)
    counts: list[CountCheck] = field(default_factory=list)
    totals: list[TotalsCheck] = field(default_factory=list)
    controls: list[ControlsCheck] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return sum(phase.changed for phase in self.phases)

    @property
    def ok(self) -> bool:
        checks: list[CountCheck | TotalsCheck | ControlsCheck] = [
            *self.counts, *self.totals, *self.controls]
        return all(check.ok for check in checks)

    @property
    def found_anything(self) -> bool:
        """Did the source hold any record this import recognises (whatever became of it)?"""
        return any(sum(phase.counts.values()) for phase in self.phases)

    def lines(self) -> list[str]:
        out = ["Moving from claude-relay-service" + (" (dry run: nothing written)"
                                                     if self.dry_run else "")]
        out += [f"  {w}" for w in self.warnings]
        for phase in self.phases:
            counts = ", ".join(f"{n} {o}" for o, n in phase.counts.items())
            out.append(f"{phase.name}: {counts}")
            out += [f"  - {note}" for note in phase.notes]
        if not self.dry_run and not self.changed:
            out.append("Nothing changed: every record was already imported.")
        out += self._verification()
        return out

    def _verification(self) -> list[str]:
        if self.dry_run:
            return []
        out = ["Verification:", f"  {'entity':<28}{'source':>8}{'imported':>10}{'skipped':>9}"]
        for count in self.counts:
            mark = "ok" if count.ok else "MISMATCH"
            out.append(f"  {count.entity:<28}{count.source:>8}{count.imported:>10}"
                       f"{count.skipped:>9}  {mark}")
        if self.totals:
            out.append(f"  {'key':<38}{'requests':>10}{'tokens':>14}{'cost (USD)':>16}")
        for totals in self.totals:
            requests, tokens, cost = totals.source
            out.append(f"  {totals.key_id:<38}{requests:>10}{tokens:>14}{cost:>16f}  "
                       + ("ok" if totals.ok else "MISMATCH: Relaygate reports "
                          f"{totals.relaygate[0]} requests, {totals.relaygate[1]} tokens, "
                          f"{totals.relaygate[2]:f} USD"))
        if self.controls:
            wrong = [control for control in self.controls if not control.ok]
            out.append(f"  key controls: {len(self.controls)} keys compared, "
                       + ("ok" if not wrong else f"{len(wrong)} MISMATCH"))
            out += [f"  {control.key_id}: source {control.source}, "
                    f"Relaygate {control.relaygate}" for control in wrong]
        out.append("Verification passed." if self.ok else "Verification FAILED.")
        return out
