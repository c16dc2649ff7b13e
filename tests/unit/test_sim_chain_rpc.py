"""The simulator's JSON-RPC answers in the shapes the official SDK's `JsonRpcClient` parses:
results as hex, reverts as the error codes it recognises as a contract revert, and relayed
calls that run all or nothing on the ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from eth_abi.abi import encode as abi_encode
from polymarket._internal.actions.relayer.calls import (
    ctf_merge_positions_call,
    ctf_redeem_positions_call,
    decode_erc1155_balance_of_batch_result,
    erc1155_balance_of_batch_call,
)
from polymarket._internal.eoa.rpc import (
    JsonRpcCallError,
    _parse_rpc_response,
    is_json_rpc_contract_revert,
)

from polysim.clob.chain import (
    COLLATERAL_ADAPTER,
    CONDITIONAL_TOKENS,
    Call,
    Reverted,
    SimChain,
    selector,
)
from polysim.clob.context import SimContext
from polysim.clob.exchange import SimExchange
from polysim.clob.liquidity import LiquidityEngine
from polysim.clob.scenario import COLLATERAL_ADDRESS, load_scenario
from trader.clock import FakeClock

WALLET = "0x" + "ab" * 20
START = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def chain() -> SimChain:
    clock = FakeClock(START)
    scenario = load_scenario(
        {"markets": [{"question": "Will it rain?"}], "initial_collateral": "100"}, now=START
    )
    exchange = SimExchange(scenario, clock)
    ctx = SimContext(scenario, clock, exchange, LiquidityEngine(exchange, 0))
    return SimChain(ctx)


def _market(chain: SimChain) -> tuple[str, tuple[str, str]]:
    market = next(iter(chain.ctx.exchange.markets.values()))
    return market.condition_id, market.spec.token_ids


def _call(call: object) -> Call:
    return Call(str(call.to), bytes.fromhex(str(call.data)[2:]))  # type: ignore[attr-defined]


def _give(chain: SimChain, token: str, size: str) -> None:
    chain.ctx.exchange.ledger.account(WALLET).holding(token).size = Decimal(size)


def test_chain_id_and_balances_read_as_the_sdk_parses_them(chain: SimChain) -> None:
    condition, (yes, no) = _market(chain)
    _give(chain, yes, "3.5")
    batch = erc1155_balance_of_batch_call(
        token_address=CONDITIONAL_TOKENS,  # type: ignore[arg-type]
        owners=[WALLET, WALLET],  # type: ignore[list-item]
        token_ids=[yes, no],
    )

    chain_id = chain.answer({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"})
    balances = chain.answer(
        {"id": 2, "method": "eth_call", "params": [{"to": batch.to, "data": batch.data}, "latest"]}
    )
    cash = chain.answer(
        {
            "id": 3,
            "method": "eth_call",
            "params": [
                {
                    "to": COLLATERAL_ADDRESS,
                    "data": "0x"
                    + (selector("balanceOf(address)") + abi_encode(["address"], [WALLET])).hex(),
                }
            ],
        }
    )

    assert _parse_rpc_response("eth_chainId", chain_id) == "0x89"
    raw = _parse_rpc_response("eth_call", balances)
    assert decode_erc1155_balance_of_batch_result(raw) == (3_500_000, 0)
    assert int(_parse_rpc_response("eth_call", cash), 16) == 100_000_000
    assert condition.startswith("0x")


def test_an_unknown_call_is_a_revert_the_sdk_recognises(chain: SimChain) -> None:
    answer = chain.answer(
        {"id": 1, "method": "eth_call", "params": [{"to": WALLET, "data": "0xdeadbeef"}]}
    )

    with pytest.raises(JsonRpcCallError) as raised:
        _parse_rpc_response("eth_call", answer)
    assert is_json_rpc_contract_revert(raised.value)


def test_an_unserved_method_names_itself(chain: SimChain) -> None:
    answer = chain.answer({"id": 1, "method": "eth_getLogs", "params": [{}]})

    assert answer["error"]["code"] == -32601
    assert "eth_getLogs" in answer["error"]["message"]


def test_a_batch_that_reverts_halfway_leaves_nothing_behind(chain: SimChain) -> None:
    condition, (yes, no) = _market(chain)
    _give(chain, yes, "10")
    _give(chain, no, "4")
    account = chain.ctx.exchange.ledger.account(WALLET)
    merge = ctf_merge_positions_call(
        target=COLLATERAL_ADAPTER,  # type: ignore[arg-type]
        collateral=COLLATERAL_ADDRESS,  # type: ignore[arg-type]
        condition_id=condition,
        amount=4_000_000,
    )
    redeem = ctf_redeem_positions_call(
        ctf=COLLATERAL_ADAPTER,  # type: ignore[arg-type]
        collateral=COLLATERAL_ADDRESS,  # type: ignore[arg-type]
        condition_id=condition,
    )

    with pytest.raises(Reverted, match="not received yet"):
        chain.execute(WALLET, [_call(merge), _call(redeem)])  # unresolved: redeem reverts

    assert account.collateral == Decimal(100)
    assert (account.tokens(yes), account.tokens(no)) == (Decimal(10), Decimal(4))

    chain.execute(WALLET, [_call(merge)])

    assert account.collateral == Decimal(104)
    assert (account.tokens(yes), account.tokens(no)) == (Decimal(6), Decimal(0))


def test_a_50_50_redemption_pays_half_a_share_on_both_sides(chain: SimChain) -> None:
    condition, (yes, no) = _market(chain)
    _give(chain, yes, "6")
    _give(chain, no, "2")
    chain.ctx.exchange.resolve(condition, "50/50", redeem=False)
    redeem = ctf_redeem_positions_call(
        ctf=COLLATERAL_ADAPTER,  # type: ignore[arg-type]
        collateral=COLLATERAL_ADDRESS,  # type: ignore[arg-type]
        condition_id=condition,
    )

    chain.execute(WALLET, [_call(redeem)])
    chain.execute(WALLET, [_call(redeem)])  # again: nothing left, nothing paid

    account = chain.ctx.exchange.ledger.account(WALLET)
    assert account.collateral == Decimal(104)
    assert (account.tokens(yes), account.tokens(no)) == (Decimal(0), Decimal(0))
