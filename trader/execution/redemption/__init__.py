"""Redemption and merge: resolved markets' shares back to collateral, and YES+NO pairs merged.

The service the execution core owns (only `trader.execution` sends to a venue). It runs as
one scheduler job (`redemption`) and by hand (`/redeem`, `/merge` through the desk), over the
venue's `ChainOps` (`trader.venue.chain`): the live venue through the official SDK, the paper
venue in its own ledger: one service for both.

Redeem. A settled market (`Accounts.settle` moved its payout to *redeemable*) whose tokens the
venue still holds is redeemed: the payout vector from the resolution source, the shares from
the venue's holdings. Merge. A market held on both sides is merged (n YES + n NO -> n pUSD)
when n is worth more than selling both at the bids net of taker fees (`merge_gain`).

Each operation is a `ChainOperation` record, written before the venue is called (state
requested, event `redemption_requested` / `merge_requested` made durable), then sent (the
venue's tx id, `*_sent`), then confirmed (`*_confirmed`: our cash moves, one alert with the
payout) or failed (`*_failed`, an alert). Idempotent across crashes:

- a market with a record in flight (requested or sent) or confirmed is never sent again;
- a sent record is followed by its tx id after a restart (`tx_status`);
- a requested record has no tx id: the send may or may not have happened. It is settled from
  the venue's holdings: the shares are gone, so it happened (confirmed); they are still there
  `unsent_grace_s` after the request, so it did not (failed, and the next run may ask again);
- so is a sent record whose status the venue cannot tell (`ChainTxState.UNKNOWN`: a relayer's
  404 for an id it lost in a restart, an EOA's hash without a receipt): never failed on the
  venue's word alone, which would send it a second time.

What the venue said reaches the record, the event log and the alerts redacted (`REDACTOR`):
an SDK error may name POLYGON_RPC_URL or RELAYER_HOST, keys and all.

Cash. A confirmed redemption moves the market's payout from redeemable to cash
(`Portfolio.redeem`, once: if reconciliation saw the venue's cash first, it already did, and
nothing moves twice). A confirmed merge is two synthetic sells (order id "merge", liquidity
"MERGE") at prices summing to 1 a pair, so cash rises by n and the pair's PnL is realised.

The package: `service` (`RedemptionService`: the job, the requests by hand, the sending),
`scan` (what is redeemable or mergeable, and whether a market may be sent one now), `follow`
(operations in flight followed until they are settled), `outcomes` (confirmed or failed: the
cash, the event log, the alerts).
"""

from __future__ import annotations

from trader.execution.redemption.outcomes import HALF, MERGE_LIQUIDITY, MERGE_ORDER_ID
from trader.execution.redemption.scan import CENT, MAX_AUTO_FAILURES, Mergeable, Redeemable
from trader.execution.redemption.service import SYSTEM, RedemptionRun, RedemptionService

__all__ = [
    "CENT",
    "HALF",
    "MAX_AUTO_FAILURES",
    "MERGE_LIQUIDITY",
    "MERGE_ORDER_ID",
    "SYSTEM",
    "Mergeable",
    "Redeemable",
    "RedemptionRun",
    "RedemptionService",
]
