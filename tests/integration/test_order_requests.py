"""How many JSON-RPC requests one order costs through the wallet (`Wallet.plan` then
`Wallet.place`), counted where requests leave web3 for the real chain (the embedded chain's
provider, the HTTP body sent to brownie's Hardhat node): a regression guard for issue #13's
orders per second, which were bound by requests (26 an order, 14 of them `eth_chainId`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from web3.types import RPCEndpoint

from p2penergy.chain.connect import Chain
from p2penergy.domain.orders import OrderInput, Side
from p2penergy.wallet.trading import Wallet

from ..conftest import Deployed
from .oracle_helpers import CONSUMER, PROSUMER, current_slot, new_trader

# bid with an EIP-2612 permit: plan 5 (participant, tariffs, two balances, the latest block),
# send 6 (latest block, permit nonce, dry run or estimate, nonce, send, receipt)
MAX_BID_REQUESTS = 11
MAX_OFFER_REQUESTS = 11  # plan 6 (also the seller fee), send 5 (no permit)


@contextmanager
def counted(chain: Chain, monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Counts the requests that reach the node (or the embedded chain) by method."""
    counts: Counter[str] = Counter()
    provider: Any = chain.w3.provider
    if hasattr(provider, "_make_request"):  # HTTP: one POST per request
        send = provider._make_request

        def post(method: RPCEndpoint, data: bytes) -> bytes:
            counts[method] += 1
            return bytes(send(method, data))

        monkeypatch.setattr(provider, "_make_request", post)
    else:  # eth-tester: web3 builds its request function once; rebuild it around the count
        make = provider.make_request

        def request(method: RPCEndpoint, params: Any) -> Any:
            counts[method] += 1
            return make(method, params)

        monkeypatch.setattr(provider, "make_request", request)
        monkeypatch.setattr(provider, "_request_func_cache", (None, None))
    yield counts
    monkeypatch.undo()


def test_an_order_takes_few_requests_and_never_asks_for_the_chain_id(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch
):
    d = deployed
    buyer = new_trader(d.chain, d.system, d.actors.operator, CONSUMER)
    seller = new_trader(d.chain, d.system, d.actors.operator, PROSUMER)
    buyer_wallet = Wallet(d.system, buyer.account.address)
    seller_wallet = Wallet(d.system, seller.account.address)
    slot = current_slot(d.chain, d.system) + 4
    bid = OrderInput(slot, Side.BID, 1_000, 200_000)
    # the first order reads the token's EIP-712 domain once; later ones reuse it
    buyer_wallet.place(buyer.account, buyer_wallet.plan([bid], None, open_orders={}))
    with counted(d.chain, monkeypatch) as bids:
        again = OrderInput(slot + 1, Side.BID, 5_000, 200_000)
        buyer_wallet.place(buyer.account, buyer_wallet.plan([again], None, open_orders={}))
    with counted(d.chain, monkeypatch) as offers:
        offer = OrderInput(slot, Side.OFFER, 800, 100_000)
        seller_wallet.place(seller.account, seller_wallet.plan([offer], None, open_orders={}))
    assert bids["eth_chainId"] == offers["eth_chainId"] == 0
    assert bids["eth_sendRawTransaction"] == offers["eth_sendRawTransaction"] == 1
    assert bids["eth_getBlockByNumber"] == offers["eth_getBlockByNumber"] == 2
    assert sum(bids.values()) <= MAX_BID_REQUESTS, bids
    assert sum(offers.values()) <= MAX_OFFER_REQUESTS, offers
    placed = d.system.market.events.OrderPlaced().get_logs(from_block=0)
    assert {(e["args"]["owner"], e["args"]["slot"]) for e in placed} >= {
        (buyer.account.address, slot + 1),
        (seller.account.address, slot),
    }
