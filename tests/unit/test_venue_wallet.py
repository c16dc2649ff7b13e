from __future__ import annotations

import asyncio

import pytest
from eth_account import Account

from tests.support.paper import make_book
from trader.venue.base import VenueError
from trader.venue.fanout import BookFanOut, FanOut
from trader.venue.polymarket.account import WalletConfig, redact

KEY = "0x" + "42" * 32
SIGNER = Account.from_key(KEY).address
FUNDER = "0x" + "ab" * 20


def test_wallet_eoa_trades_from_the_signer() -> None:
    assert WalletConfig(KEY).wallet() == SIGNER
    assert WalletConfig(KEY, 0, SIGNER.lower()).wallet() == SIGNER


def test_wallet_proxy_and_safe_need_the_funder() -> None:
    assert WalletConfig(KEY, 1, FUNDER).wallet() == FUNDER
    assert WalletConfig(KEY, 2, FUNDER).wallet() == FUNDER
    for signature_type in (1, 2):
        with pytest.raises(VenueError, match="needs the funder"):
            WalletConfig(KEY, signature_type).wallet()


def test_wallet_deposit_wallet_may_default() -> None:
    assert WalletConfig(KEY, 3).wallet() is None
    assert WalletConfig(KEY, 3, FUNDER).wallet() == FUNDER


def test_wallet_refuses_inconsistent_settings_without_leaking_the_key() -> None:
    with pytest.raises(VenueError, match="separate funder"):
        WalletConfig(KEY, 0, FUNDER).wallet()
    with pytest.raises(VenueError, match="unknown signature type"):
        WalletConfig(KEY, 7).wallet()
    with pytest.raises(VenueError) as info:
        WalletConfig("0x1234not-a-key").wallet()
    assert "1234not" not in str(info.value)
    assert info.value.__cause__ is None
    assert KEY not in repr(WalletConfig(KEY))


def test_redact_removes_the_key_with_and_without_prefix() -> None:
    text = f"bad key {KEY} or {KEY[2:]}"

    assert redact(text, KEY) == "bad key <redacted> or <redacted>"


async def test_fanout_delivers_everything_to_every_subscriber_and_ends_on_close() -> None:
    fanout = FanOut[int]()
    first, second = fanout.subscribe(), fanout.subscribe()

    for number in range(3):
        fanout.publish(number)
    fanout.close()

    assert [n async for n in first] == [0, 1, 2]
    assert [n async for n in second] == [0, 1, 2]
    assert len(fanout) == 0


async def test_fanout_subscription_closed_while_waiting_stops() -> None:
    fanout = FanOut[int]()
    subscription = fanout.subscribe()
    waiter = asyncio.ensure_future(anext(subscription))
    await asyncio.sleep(0)

    subscription.close()

    with pytest.raises(StopAsyncIteration):
        await waiter


async def test_book_fanout_coalesces_per_token_and_filters() -> None:
    fanout = BookFanOut()
    subscription = fanout.subscribe(["a", "b"])
    older, newer = make_book(token="a"), make_book(token="a", bids=())

    fanout.publish(older)
    fanout.publish(make_book(token="b"))
    fanout.publish(make_book(token="z"))
    fanout.publish(newer)
    fanout.close()

    received = [book async for book in subscription]
    assert [b.token_id for b in received] == ["b", "a"]
    assert received[1] is newer
    assert fanout.tokens() == frozenset()
