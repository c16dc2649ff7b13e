"""The execution engine: the one synchronous hot path that moves money, and the only code
that submits or cancels orders.

intent -> risk (a function call) -> capital reserved -> prepared (rounded, signed, its id known)
-> order row written -> submitted -> fills applied to positions at once.

- The order row (client id, venue id = the signed order's hash, the signed payload) is written
  and committed before the venue is called, with the events before it. What the venue's
  answer changes (the fills' events, the fill rows, the positions they leave, the order's
  status) is applied in memory first (optimistic), then committed in one transaction before
  the call returns (`_write_rows`); if that commit fails or other writes are queued ahead, the
  rows go through the write-behind queue, behind a barrier that writes their events first.
  Reconciliation corrects positions from the venue.
- A submit with an unknown outcome leaves the order SUBMITTED with its capital reserved; it is
  resolved by looking its id up (`resolve_unknown`), never re-signed or re-sent.
- Decisions are serialised by a lock: one intent at a time is checked, reserved and sent, so
  two intents never both fit under a limit only one of them fits under. Fills and cancels do
  not take the lock (they only ever release risk).
- Every step is appended to the event log with the intent's correlation id.

The package: `decisions` (`ExecutionEngine`: the intent through risk, the gates and the
reservation to the order row, under the decision lock), `answers` (`EngineAnswers`, its base:
the submit and the venue's answer, fills, cancels, and their writes).
"""

from __future__ import annotations

from trader.execution.engine.answers import EngineAnswers, VenueErrorHook
from trader.execution.engine.decisions import ApprovalGate, ExecutionEngine, MakerGate

__all__ = ["ApprovalGate", "EngineAnswers", "ExecutionEngine", "MakerGate", "VenueErrorHook"]
