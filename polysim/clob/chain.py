"""The slice of Polygon the official SDK reads and writes, kept in the simulator's own ledger.

JSON-RPC 2.0 at `POST /rpc` and `POST /` (single requests and batches), what
`polymarket-client` 0.14.0's `JsonRpcClient` sends (`_internal/eoa/rpc.py`):

- `eth_chainId` -> the scenario's chain id (hex); `eth_blockNumber`; `eth_getBlockByNumber
  ["latest", false]` -> `{number, timestamp}` (the SDK dates a deposit-wallet batch's deadline
  from it); `eth_getTransactionReceipt [hash]` -> `{status: "0x1" | "0x0", ...}` for a relayed
  transaction once it ran, null before; `eth_getTransactionByHash [hash]` -> `{hash, from,
  blockNumber}` for an EOA's broadcast (`blockNumber` null while it waits to be mined) or a
  mined transaction, null for a hash the node never saw; `eth_gasPrice`, `eth_estimateGas`,
  `eth_getTransactionCount` answer constants.
- `eth_call {to, data}` reads: pUSD `balanceOf(address)` and `allowance(owner, spender)`;
  the conditional tokens' (and the neg-risk adapter's) `balanceOf(address, uint256)`,
  `balanceOfBatch(address[], uint256[])` and `isApprovedForAll(owner, operator)`; the
  deposit-wallet factory's `beacon()`. Anything else reverts (`-32000 execution reverted`).
- `eth_sendRawTransaction` (an EOA sending its own call, legacy EIP-155 transactions as the SDK
  signs them): the sender is recovered from the signature, the nonce must be its next one
  (`eth_getTransactionCount`); the call runs after the scenario's `chain_confirm_s` like a
  relayed one, and its receipt appears then. Gas is free.

Writes arrive as the calls of a relayed transaction (`relayer.py`) and run here, all or nothing:
pUSD `approve` and `transfer`, ERC-1155 `setApprovalForAll`, and the CTF calls the SDK builds
for a v1 market (its collateral adapters, or the conditional tokens themselves):
`redeemPositions(collateral, 0, condition, [1, 2])` pays every held share of a resolved market
its payout (1 or 0, 0.5 each for a 50/50) and reverts before resolution;
`mergePositions(.., [1, 2], amount)` burns `amount` of each outcome for `amount` pUSD;
`splitPosition(.., [1, 2], amount)` the reverse. Amounts are 6-decimal base units. Approvals
are recorded (and read back) but not required by the calls.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import rlp  # type: ignore[import-untyped]
from aiohttp import web
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_account import Account as EthAccount
from eth_utils.crypto import keccak
from polymarket._internal.actions.relayer.approvals import _required_trading_approvals
from polymarket.environments import PRODUCTION

from polysim.clob.context import SimContext
from polysim.clob.ledger import Account
from polysim.clob.scenario import COLLATERAL_ADDRESS, NEG_RISK_ADAPTER
from trader.domain import ZERO

SCALE = Decimal(1_000_000)
RPC_PATH = "/rpc"
CONDITIONAL_TOKENS = "0x4D97DCd97eC945f40cF65F87097ACe5EA0476045"
COLLATERAL_ADAPTER = "0xAdA100Db00Ca00073811820692005400218FcE1f"
NEG_RISK_COLLATERAL_ADAPTER = "0xadA2005600Dec949baf300f4C6120000bDB6eAab"
DEPOSIT_WALLET_FACTORY = "0x00000000000Fb5C9ADea0298D729A0CB3823Cc07"
DEPOSIT_WALLET_BEACON = "0x7A18EDfe055488A3128f01F563e5B479D92ffc3a"
CTF_TARGETS = frozenset(
    a.lower()
    for a in (CONDITIONAL_TOKENS, COLLATERAL_ADAPTER, NEG_RISK_COLLATERAL_ADAPTER, NEG_RISK_ADAPTER)
)
TOKEN_HOLDERS = frozenset(a.lower() for a in (CONDITIONAL_TOKENS, NEG_RISK_ADAPTER))
REVERT_CODE = -32000


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


BALANCE_OF = selector("balanceOf(address)")
ALLOWANCE = selector("allowance(address,address)")
APPROVE = selector("approve(address,uint256)")
TRANSFER = selector("transfer(address,uint256)")
BALANCE_OF_TOKEN = selector("balanceOf(address,uint256)")
BALANCE_OF_BATCH = selector("balanceOfBatch(address[],uint256[])")
IS_APPROVED_FOR_ALL = selector("isApprovedForAll(address,address)")
SET_APPROVAL_FOR_ALL = selector("setApprovalForAll(address,bool)")
REDEEM_POSITIONS = selector("redeemPositions(address,bytes32,bytes32,uint256[])")
MERGE_POSITIONS = selector("mergePositions(address,bytes32,bytes32,uint256[],uint256)")
SPLIT_POSITION = selector("splitPosition(address,bytes32,bytes32,uint256[],uint256)")
BEACON = bytes.fromhex("49493a4d")
POSITION_ARGS = ["address", "bytes32", "bytes32", "uint256[]", "uint256"]


class Reverted(Exception):
    """A call the simulated chain refuses: nothing it did stays."""


class Unserved(Exception):
    """A JSON-RPC method the simulator does not answer."""


@dataclass(frozen=True, slots=True)
class Call:
    target: str
    data: bytes
    value: int = 0


@dataclass(frozen=True, slots=True)
class Receipt:
    tx_hash: str
    success: bool
    block: int
    sender: str
    to: str


@dataclass(slots=True)
class Broadcast:
    """An EOA's own transaction, waiting to be mined."""

    tx_hash: str
    sender: str
    call: Call
    due: float


@dataclass(slots=True)
class SimChain:
    """Allowances, operator approvals and receipts; balances are the exchange's ledger."""

    ctx: SimContext
    allowances: dict[tuple[str, str], int] = field(default_factory=dict)  # (owner, spender)
    operators: dict[tuple[str, str, str], bool] = field(default_factory=dict)
    receipts: dict[str, Receipt] = field(default_factory=dict)
    block: int = 1
    before_read: list[Callable[[], None]] = field(default_factory=list)
    nonces: dict[str, int] = field(default_factory=dict)  # an EOA's transaction count
    broadcasts: list[Broadcast] = field(default_factory=list)

    # --- reads --------------------------------------------------------------------------

    def call(self, to: str, data: bytes) -> bytes:
        """What `eth_call` answers, or Reverted."""
        target, head, args = to.lower(), data[:4], data[4:]
        ledger = self.ctx.exchange.ledger
        if target == COLLATERAL_ADDRESS.lower() and head == BALANCE_OF:
            (owner,) = abi_decode(["address"], args)
            return _uint(_units(ledger.account(owner).collateral))
        if target == COLLATERAL_ADDRESS.lower() and head == ALLOWANCE:
            owner, spender = abi_decode(["address", "address"], args)
            return _uint(self.allowances.get((owner.lower(), spender.lower()), 0))
        if head == IS_APPROVED_FOR_ALL:
            owner, operator = abi_decode(["address", "address"], args)
            approved = self.operators.get((target, owner.lower(), operator.lower()), False)
            return abi_encode(["bool"], [approved])
        if target in TOKEN_HOLDERS and head == BALANCE_OF_TOKEN:
            owner, token = abi_decode(["address", "uint256"], args)
            return _uint(_units(ledger.account(owner).tokens(str(token))))
        if target in TOKEN_HOLDERS and head == BALANCE_OF_BATCH:
            owners, token_ids = abi_decode(["address[]", "uint256[]"], args)
            sizes = [
                _units(ledger.account(o).tokens(str(t)))
                for o, t in zip(owners, token_ids, strict=True)
            ]
            return abi_encode(["uint256[]"], [sizes])
        if target == DEPOSIT_WALLET_FACTORY.lower() and head == BEACON:
            return abi_encode(["address"], [DEPOSIT_WALLET_BEACON])
        raise Reverted(f"execution reverted: no such call on {to}")

    # --- writes -------------------------------------------------------------------------

    def grant_trading_approvals(self, owner: str) -> None:
        """Set every approval the SDK's `setup_trading_approvals` would (as polymarket.com did
        for a legacy proxy or Safe when it first traded)."""
        erc20, erc1155 = _required_trading_approvals(PRODUCTION._config)
        for allowance in erc20:
            self.allowances[(owner.lower(), allowance.spender.lower())] = allowance.amount
        for operator in erc1155:
            key = (operator.token_address.lower(), owner.lower(), operator.operator.lower())
            self.operators[key] = True

    def execute(self, wallet: str, calls: list[Call]) -> None:
        """Run `calls` for `wallet` in order, all or nothing (Reverted leaves no trace)."""
        ledger = self.ctx.exchange.ledger
        account = ledger.account(wallet)
        saved = (copy.deepcopy(account), dict(self.allowances), dict(self.operators))
        try:
            with self.ctx.exchange.operation():
                for call in calls:
                    self._apply(account, call)
        except Reverted:
            _restore(account, saved[0])
            self.allowances, self.operators = saved[1], saved[2]
            raise
        except (ValueError, TypeError, DecodingError) as error:  # undecodable: reverts
            _restore(account, saved[0])
            self.allowances, self.operators = saved[1], saved[2]
            raise Reverted(f"execution reverted: {error}") from error

    def broadcast(self, raw_hex: str) -> str:
        """Accept an EOA's signed legacy transaction; its hash."""
        raw = bytes.fromhex(raw_hex.removeprefix("0x"))
        try:
            nonce, _price, _gas, to, value, data, _v, _r, _s = rlp.decode(raw)
            sender = str(EthAccount.recover_transaction(raw))
        except (ValueError, TypeError, rlp.DecodingError) as error:
            raise ValueError(f"not a signed legacy transaction: {error}") from error
        expected = self.nonces.get(sender.lower(), 0)
        if int.from_bytes(nonce, "big") != expected:
            raise Reverted(f"nonce too low or too high: expected {expected}")
        self.nonces[sender.lower()] = expected + 1
        tx_hash = "0x" + keccak(raw).hex()
        call = Call("0x" + bytes(to).hex(), bytes(data), int.from_bytes(value, "big"))
        due = self.ctx.now() + self.ctx.scenario.chain_confirm_s
        self.broadcasts.append(Broadcast(tx_hash, sender, call, due))
        self.run_due()
        return tx_hash

    def run_due(self) -> None:
        """Mine the EOA transactions whose confirmation time has come."""
        now = self.ctx.now()
        due = [b for b in self.broadcasts if b.due <= now]
        self.broadcasts = [b for b in self.broadcasts if b.due > now]
        for item in due:
            try:
                self.execute(item.sender, [item.call])
                success = True
            except Reverted:
                success = False
            self.record(item.tx_hash, success=success, sender=item.sender, to=item.call.target)

    def transaction(self, tx_hash: str) -> dict[str, Any] | None:
        """What `eth_getTransactionByHash` answers: waiting (no block yet), mined, or null."""
        waiting = next((b for b in self.broadcasts if b.tx_hash == tx_hash), None)
        if waiting is not None:
            return {"hash": tx_hash, "from": waiting.sender, "blockNumber": None}
        receipt = self.receipts.get(tx_hash)
        if receipt is None:
            return None
        return {"hash": tx_hash, "from": receipt.sender, "blockNumber": hex(receipt.block)}

    def record(self, tx_hash: str, *, success: bool, sender: str, to: str) -> Receipt:
        self.block += 1
        receipt = Receipt(tx_hash, success, self.block, sender, to)
        self.receipts[tx_hash.lower()] = receipt
        return receipt

    def _apply(self, account: Account, call: Call) -> None:
        target, head, args = call.target.lower(), call.data[:4], call.data[4:]
        owner = account.address.lower()
        if target == COLLATERAL_ADDRESS.lower() and head == APPROVE:
            spender, amount = abi_decode(["address", "uint256"], args)
            self.allowances[(owner, spender.lower())] = amount
        elif target == COLLATERAL_ADDRESS.lower() and head == TRANSFER:
            _recipient, amount = abi_decode(["address", "uint256"], args)
            self._pay(account, -Decimal(amount) / SCALE)
        elif head == SET_APPROVAL_FOR_ALL:
            operator, approved = abi_decode(["address", "bool"], args)
            self.operators[(target, owner, operator.lower())] = bool(approved)
        elif target in CTF_TARGETS and head == REDEEM_POSITIONS:
            _collateral, _parent, condition, _sets = abi_decode(POSITION_ARGS[:4], args)
            self._redeem(account, "0x" + condition.hex())
        elif target in CTF_TARGETS and head in (MERGE_POSITIONS, SPLIT_POSITION):
            _collateral, _parent, condition, _partition, amount = abi_decode(POSITION_ARGS, args)
            shares = Decimal(amount) / SCALE
            merge = head == MERGE_POSITIONS
            self._convert(account, "0x" + condition.hex(), shares, merge=merge)
        else:
            raise Reverted(f"execution reverted: unsupported call to {call.target}")

    def _redeem(self, account: Account, condition_id: str) -> None:
        market = self.ctx.exchange.markets.get(condition_id)
        if market is None:
            raise Reverted("execution reverted: condition not prepared")
        if market.payouts is None:
            raise Reverted("execution reverted: result for condition not received yet")
        self.ctx.exchange.redeem_for(condition_id, account.address)

    def _convert(
        self, account: Account, condition_id: str, shares: Decimal, *, merge: bool
    ) -> None:
        market = self.ctx.exchange.markets.get(condition_id)
        if market is None:
            raise Reverted("execution reverted: condition not prepared")
        if shares <= ZERO:
            raise Reverted("execution reverted: amount must be positive")
        when = self.ctx.now()
        for token in market.spec.token_ids:
            holding = account.holding(token)
            if merge and holding.size < shares:
                raise Reverted("execution reverted: insufficient balance to merge")
            basis = holding.average_price * shares if merge else shares / 2
            holding.size += -shares if merge else shares
            holding.cost = max(ZERO, holding.cost + (-basis if merge else basis))
            if merge:
                holding.realized_pnl += shares / 2 - basis
            holding.last_event_at = when
        self._pay(account, shares if merge else -shares)

    @staticmethod
    def _pay(account: Account, amount: Decimal) -> None:
        if account.collateral + amount < ZERO:
            raise Reverted("execution reverted: ERC20: transfer amount exceeds balance")
        account.collateral += amount

    # --- JSON-RPC -----------------------------------------------------------------------

    def answer(self, request: Any) -> dict[str, Any]:
        """One JSON-RPC response object for one request object."""
        self.run_due()
        for hook in self.before_read:
            hook()
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return _error(None, -32600, "invalid request")
        ident, method = request.get("id"), request["method"]
        params = request.get("params") or []
        try:
            return {"jsonrpc": "2.0", "id": ident, "result": self._method(method, params)}
        except Reverted as reverted:
            return _error(ident, REVERT_CODE, str(reverted), data="0x")
        except Unserved as missing:
            return _error(ident, -32601, str(missing))
        except (KeyError, IndexError, TypeError, ValueError) as error:
            return _error(ident, -32602, f"invalid params for {method}: {error}")

    def _method(self, method: str, params: list[Any]) -> Any:
        if method == "eth_chainId":
            return hex(self.ctx.scenario.chain_id)
        if method == "eth_blockNumber":
            return hex(self.block)
        if method == "eth_getBlockByNumber":
            return {"number": hex(self.block), "timestamp": hex(int(self.ctx.now()))}
        if method == "eth_call":
            call = params[0]
            result = self.call(str(call["to"]), bytes.fromhex(str(call["data"])[2:]))
            return "0x" + result.hex()
        if method == "eth_getTransactionReceipt":
            receipt = self.receipts.get(str(params[0]).lower())
            return None if receipt is None else _receipt_json(receipt)
        if method == "eth_getTransactionByHash":
            return self.transaction(str(params[0]).lower())
        if method in ("eth_gasPrice", "eth_estimateGas"):
            return hex(30_000_000_000 if method == "eth_gasPrice" else 200_000)
        if method == "eth_getTransactionCount":
            return hex(self.nonces.get(str(params[0]).lower(), 0))
        if method == "eth_sendRawTransaction":
            return self.broadcast(str(params[0]))
        raise Unserved(f"the simulator does not serve {method}")


def _receipt_json(receipt: Receipt) -> dict[str, Any]:
    return {
        "transactionHash": receipt.tx_hash,
        "status": "0x1" if receipt.success else "0x0",
        "blockNumber": hex(receipt.block),
        "from": receipt.sender,
        "to": receipt.to,
        "logs": [],
        "gasUsed": hex(100_000),
    }


def _restore(account: Account, saved: Account) -> None:
    account.collateral = saved.collateral
    account.holdings = saved.holdings


def _units(amount: Decimal) -> int:
    return int(amount * SCALE)


def _uint(value: int) -> bytes:
    return abi_encode(["uint256"], [value])


def _error(ident: Any, code: int, message: str, *, data: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        body["data"] = data
    return {"jsonrpc": "2.0", "id": ident, "error": body}


SIM_CHAIN = web.AppKey("sim_chain", SimChain)


async def rpc(request: web.Request) -> web.Response:
    chain = request.app[SIM_CHAIN]
    try:
        payload = await request.json()
    except ValueError:
        return web.json_response(_error(None, -32700, "parse error"))
    if isinstance(payload, list):
        return web.json_response([chain.answer(item) for item in payload])
    return web.json_response(chain.answer(payload))


def add_routes(app: web.Application, ctx: SimContext) -> SimChain:
    chain = SimChain(ctx)
    ctx.after_step.append(chain.run_due)
    app[SIM_CHAIN] = chain
    app.router.add_post(RPC_PATH, rpc)
    app.router.add_post("/", rpc)  # an SDK environment whose rpc_url is the CLOB host itself
    return chain


def chain_of(request: web.Request) -> SimChain:
    return request.app[SIM_CHAIN]


__all__ = [
    "CONDITIONAL_TOKENS",
    "RPC_PATH",
    "SIM_CHAIN",
    "Call",
    "Receipt",
    "Reverted",
    "SimChain",
    "add_routes",
    "chain_of",
]
