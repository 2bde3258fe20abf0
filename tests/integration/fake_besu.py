"""A small stand-in for a Besu node's PERM interface: an aiohttp JSON-RPC server that keeps an
accounts allowlist the way Besu's local permissioning does (same methods, results and error
codes) and forwards every other method to a real chain."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

from aiohttp import ClientSession, web

from p2penergy.chain.node import free_port

NOT_ENABLED = {"code": -32604, "message": "Method not enabled"}


class FakeBesu:
    """Serves on 127.0.0.1:`port`; `accounts` is the allowlist (lowercase, as Besu returns)."""

    def __init__(
        self,
        upstream: str | None = None,
        *,
        port: int | None = None,
        perm_enabled: bool = True,
        allowlist_enabled: bool = True,
        accounts: tuple[str, ...] = (),
        hidden: tuple[str, ...] = (),
    ) -> None:
        self.upstream = upstream
        self.port = port or free_port()
        self.perm_enabled = perm_enabled
        self.allowlist_enabled = allowlist_enabled
        # Listed but not shown by the first read: as if another tool added them in between.
        self.hidden: set[str] = {a.lower() for a in hidden}
        self.accounts: set[str] = {a.lower() for a in accounts}
        self.calls: Counter[str] = Counter()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def changes(self) -> int:
        """PERM requests that change the allowlist, so far."""
        return (
            self.calls["perm_addAccountsToAllowlist"]
            + self.calls["perm_removeAccountsFromAllowlist"]
        )

    def snapshot(self) -> set[str]:
        with self._lock:
            return set(self.accounts)

    def start(self) -> FakeBesu:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> FakeBesu:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        method = body.get("method", "")
        self.calls[method] += 1
        if method.startswith("perm_"):
            answer = self._perm(method, body.get("params", []))
            return web.json_response({"jsonrpc": "2.0", "id": body.get("id"), **answer})
        if self.upstream is None:
            error = {"code": -32601, "message": "Method not found"}
            return web.json_response({"jsonrpc": "2.0", "id": body.get("id"), "error": error})
        async with ClientSession() as session, session.post(self.upstream, json=body) as reply:
            return web.json_response(await reply.json())

    def _perm(self, method: str, params: list[Any]) -> dict[str, Any]:
        if not self.perm_enabled:
            return {"error": NOT_ENABLED}
        if not self.allowlist_enabled:
            return {"error": {"code": -32000, "message": "Account allowlist has not been enabled"}}
        with self._lock:
            if method == "perm_getAccountsAllowlist":
                shown = sorted(self.accounts - self.hidden)
                self.accounts |= self.hidden
                self.hidden = set()
                return {"result": shown}
            given = [str(a).lower() for a in (params[0] if params else [])]
            if not given:
                return {"error": {"code": -32000, "message": "Request contains an empty list"}}
            if len(set(given)) != len(given):
                return {"error": {"code": -32000, "message": "Request contains duplicate accounts"}}
            if method == "perm_addAccountsToAllowlist":
                if self.accounts & set(given):
                    message = "Cannot add an existing account to allowlist"
                    return {"error": {"code": -32000, "message": message}}
                self.accounts |= set(given)
                return {"result": "Success"}
            if method == "perm_removeAccountsFromAllowlist":
                if set(given) - self.accounts:
                    message = "Cannot remove an absent account from allowlist"
                    return {"error": {"code": -32000, "message": message}}
                self.accounts -= set(given)
                return {"result": "Success"}
        return {"error": {"code": -32601, "message": "Method not found"}}
