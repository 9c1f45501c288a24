"""Rebuild the risk engine's state at a past moment from the inputs the warehouse stored.

The risk inputs stored up to `until` (event time, inclusive) are folded in apply order (`streams.sources.restore`)
through a fresh engine with the settings' markets and thresholds, the records each event leaves through the
owners of what spans the accounts (the open interest, the insurance fund) right after it, as the live worker's
owners apply them: the simulated venue's fills of a plan are stored inputs like any fill, so they come back in their
place. What comes out is each account's newest snapshot and every
decision on the way, with its digest; the same stored inputs give the same answer, byte for byte, the live run's
included.
"""

from dataclasses import dataclass, field

from quantdesk.kafka.topics import RISK_INPUTS
from quantdesk.messages import INPUT_MODELS, AccountSnapshot, AuditEntry
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from streams.domain.alerts import Thresholds
from streams.risk.engine import RiskEngine
from streams.risk.owners import Owners
from streams.risk.snapshot_bytes import as_model
from streams.sources.restore import in_apply_order, stored_inputs


@dataclass
class Rebuilt:
    """The accounts as they stood at `until` (each one's newest snapshot), and the decisions taken up to then."""

    until: int
    accounts: dict[str, AccountSnapshot] = field(default_factory=dict)
    decisions: list[AuditEntry] = field(default_factory=list)

    def of(self, wallet: str) -> "Rebuilt":
        """Return the part about one wallet: its sub-accounts and the decisions about them."""
        mine = {key: s for key, s in self.accounts.items() if s.wallet == wallet}
        about = [d for d in self.decisions if d.subject == wallet or d.subject.startswith(f"{wallet}:")]
        return Rebuilt(self.until, mine, about)


def rebuild(settings: Settings, warehouse: Warehouse, until: int) -> Rebuilt:
    """Fold the stored risk inputs up to event time `until` through a fresh engine; return what they left."""
    thresholds, rebuilt = Thresholds.of(settings), Rebuilt(until)
    engine, owners = RiskEngine(settings.markets, thresholds), Owners(settings.market_names, thresholds)
    for topic, _, raw in in_apply_order(stored_inputs(warehouse)):
        if topic not in RISK_INPUTS or raw["ts"] > until:
            continue
        event = INPUT_MODELS[topic].model_validate(raw)
        if engine.unknown(event):  # the live worker dead-letters it: it changes nothing
            continue
        out = owners.after(engine.apply(event))  # type: ignore[arg-type]
        rebuilt.accounts.update({f"{s.wallet}:{s.subaccount}": as_model(s) for s in out.states})
        rebuilt.decisions += out.audit
    return rebuilt
