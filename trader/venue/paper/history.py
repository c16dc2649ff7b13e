"""The paper venue's history of fills, as it keeps them for `trades()` and for replaying its
ledger: each fill a plain tuple (`KeptFill`, made by `kept_fill`, read back by `fill_of`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Final

from trader.domain import Fill, Side, TradeStatus

# A fill as the venue keeps it for `trades()`: its fields in order, the enums as their values.
# A tuple of strings, Decimals and datetimes is untracked by the garbage collector, so a paper
# trader's history (every fill it ever made) adds nothing to a full collection's walk, as a
# `Fill` instance each did (135 ms at 100,000 fills in bench/hot_path.py).
KeptFill = tuple[str, str, str, str, Decimal, Decimal, Decimal, datetime, str, str, str]
KEPT_TIMESTAMP: Final = 7
KEPT_MARKET: Final = 8
KEPT_LIQUIDITY: Final = 10


def kept_fill(fill: Fill) -> KeptFill:
    f = fill
    return (
        f.trade_id,
        f.order_id,
        f.token_id,
        f.side.value,
        f.price,
        f.size,
        f.fee,
        f.timestamp,
        f.market,
        f.status.value,
        f.liquidity,
    )


def fill_of(kept: KeptFill) -> Fill:
    trade_id, order_id, token_id, side, price, size, fee, at, market, status, liquidity = kept
    return Fill(
        trade_id,
        order_id,
        token_id,
        Side(side),
        price,
        size,
        fee,
        at,
        market,
        TradeStatus(status),
        liquidity,
    )
