"""The operator's console as services: deploy, register, meters, tariffs, credits, governance.

Each action is checked before signing (roles, registration, balances) and its reverts are
translated into sentences that say what to do. Governed actions (meter keys, tariffs, outages)
are not made directly: they are scheduled in the governance timelock and return the operation
id and the time from which `execute` may run them; the guardian may `cancel` them meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from eth_account.signers.local import LocalAccount

from p2penergy.chain.connect import Chain
from p2penergy.chain.deploy import Deployment, MarketConfig, System, deploy_system
from p2penergy.chain.tx import send_value
from p2penergy.contracts.credit import CreditClient, describe_ref
from p2penergy.contracts.governance import GovernanceClient, Operation, Scheduled
from p2penergy.contracts.registry import RegistryClient
from p2penergy.domain.orders import MAX_FEE_PER_KWH
from p2penergy.exceptions import ContractRevert, DeploymentError
from p2penergy.units import Currency, format_credits
from p2penergy.wallet.errors import PreflightError, RefusedByContract


def deploy(
    chain: Chain,
    admin: LocalAccount,
    folder: Path,
    config: MarketConfig,
    *,
    operator: str | None,
    fee_account: str | None,
    rounding_account: str | None,
    keepers: tuple[str, ...],
    auditors: tuple[str, ...],
    force: bool,
    guardian: str | None = None,
    currency: Currency | None = None,
) -> tuple[System, Path]:
    """Deploys the system and writes `<folder>/<chainId>.json` naming the community's
    `currency` (default EUR with 2 display decimals); refuses to hide a live one."""
    if not force:
        check_address_book_free(chain, folder)
    system = deploy_system(
        chain,
        admin,
        config=config,
        fee_account=fee_account,
        rounding_account=rounding_account,
        operator=operator,
        keepers=keepers,
        auditors=auditors,
        guardian=guardian,
    )
    money = currency or Currency()
    system.deployment = replace(
        system.deployment, currency=money.code, currency_decimals=money.decimals
    )
    return system, system.deployment.save(folder)


def check_address_book_free(chain: Chain, folder: Path) -> None:
    """Refuses to overwrite an address book that points at contracts live on this chain."""
    path = folder / f"{chain.chain_id}.json"
    if not path.exists():
        return
    try:
        old = Deployment.load(folder, chain.chain_id)
        registry = old.addresses["ParticipantRegistry"]
        live = bool(chain.w3.eth.get_code(registry))  # type: ignore[arg-type]
    except (DeploymentError, KeyError, TypeError, ValueError):
        live = False
    if live:
        raise PreflightError(
            f"{path} already points at a live deployment: pass --force to replace it, "
            "or --deployments another folder"
        )


@dataclass
class Operator:
    """The community operator acting on a deployed system."""

    system: System
    signer: LocalAccount

    @property
    def registry(self) -> RegistryClient:
        return RegistryClient(self.system)

    @property
    def credit(self) -> CreditClient:
        return CreditClient(self.system)

    def check_role(self, role: str = "OPERATOR_ROLE") -> None:
        if not self.registry.has_role(role, self.signer.address):
            raise PreflightError(
                f"account {self.signer.address} does not hold {role}: ask the admin to grant "
                "it, or sign with the operator's account (--account)"
            )

    @property
    def governance(self) -> GovernanceClient:
        return GovernanceClient(self.system)

    def check_governance(self, role: str = "PROPOSER_ROLE") -> None:
        """Refuses early when the signer may not schedule/execute (or cancel) governed calls."""
        timelock = self.system.governance.functions
        role_id = bytes(getattr(timelock, role)().call())
        if not timelock.hasRole(role_id, self.signer.address).call():
            who = "the guardian" if role == "CANCELLER_ROLE" else "a proposer (admin, operator)"
            raise PreflightError(
                f"account {self.signer.address} does not hold the timelock's {role}: sign as "
                f"{who} with --account"
            )

    def _schedule(self, action: str, fn: object) -> Scheduled:
        """Schedules the governed call `fn` in the timelock (after the minimum delay)."""
        self.check_governance()
        result: list[Scheduled] = []
        self._do(action, lambda: result.append(self.governance.schedule(self.signer, fn)))  # type: ignore[arg-type]
        return result[0]

    def execute(self, operation_id: str) -> Operation:
        """Executes a ready governed call; returns it as it was scheduled."""
        self.check_governance("EXECUTOR_ROLE")
        op = self.governance.operation(operation_id)
        self._do(
            f"execute {op.description}",
            lambda: self.governance.execute(self.signer, op.operation_id),
        )
        return op

    def cancel(self, operation_id: str) -> Operation:
        """Cancels a pending governed call (the guardian's action)."""
        self.check_governance("CANCELLER_ROLE")
        op = self.governance.operation(operation_id)
        self._do(
            f"cancel {op.description}", lambda: self.governance.cancel(self.signer, op.operation_id)
        )
        return op

    def pending(self) -> list[Operation]:
        """The governed calls scheduled and neither executed nor cancelled."""
        return self.governance.pending()

    def _do(self, action: str, run: object) -> None:
        try:
            run()  # type: ignore[operator]
        except ContractRevert as exc:
            raise explain(exc, action) from None

    def register(self, account: str, kind: str, critical: bool, gas_wei: int) -> None:
        self.check_role()
        existing = self.registry.participant(account)
        if existing.registered:
            raise PreflightError(
                f"{account} is already registered as a {existing.kind}: "
                "use `p2penergy admin suspend` to change its status"
            )
        self._do("register", lambda: self.registry.register(self.signer, account, kind, critical))
        if gas_wei:
            send_value(self.system.chain, self.signer, account, gas_wei)

    def suspend(self, account: str, reinstate: bool) -> None:
        self.check_role()
        p = self.registry.participant(account)
        if not p.registered:
            raise PreflightError(f"{account} is not registered: nothing to suspend")
        if p.active == reinstate:
            state = "active" if p.active else "suspended"
            raise PreflightError(f"{account} is already {state}")
        if reinstate:
            self._do("reinstate", lambda: self.registry.reinstate(self.signer, account))
        else:
            self._do("suspend", lambda: self.registry.suspend(self.signer, account))

    def register_meter(self, device: str, owner: str, capacity_w: int) -> int:
        self.check_role()
        if not self.registry.participant(owner).registered:
            raise PreflightError(f"{owner} is not registered: register the household first")
        result: list[int] = []
        self._do(
            "register the meter",
            lambda: result.append(
                self.registry.register_meter(self.signer, device, owner, capacity_w)
            ),
        )
        return result[0]

    def rotate_meter_key(self, meter_id: int, device: str) -> tuple[str, Scheduled]:
        """Schedules replacing meter `meter_id`'s key; returns its current key and the op."""
        if not 0 < meter_id <= self.registry.meter_count():
            raise PreflightError(f"there is no meter #{meter_id}: see the registry's meters")
        old = self.registry.meter(meter_id).device
        fn = self.system.registry.functions.rotateMeterKey(meter_id, device)
        return old, self._schedule("rotate the key", fn)

    def set_meter_active(self, meter_id: int, active: bool) -> Scheduled:
        """Schedules (de)activating meter `meter_id`."""
        if not 0 < meter_id <= self.registry.meter_count():
            raise PreflightError(f"there is no meter #{meter_id}: see the registry's meters")
        fn = self.system.registry.functions.setMeterActive(meter_id, active)
        return self._schedule("change the meter's status", fn)

    def grant_role(self, role: str, account: str, revoke: bool = False) -> Scheduled:
        """Schedules granting (or revoking) registry role `role` to `account`."""
        role_id = self.system.role(role)
        registry = self.system.registry.functions
        fn = (
            registry.revokeRole(role_id, account)
            if revoke
            else registry.grantRole(role_id, account)
        )
        return self._schedule("revoke the role" if revoke else "grant the role", fn)

    def set_tariffs(self, feed_in: int, retail: int, fee: int) -> Scheduled:
        """Schedules new tariffs (they apply to orders placed after execution)."""
        if feed_in > retail:
            raise PreflightError(
                f"feed-in {format_credits(feed_in)} is above retail {format_credits(retail)}: "
                "the feed-in tariff must not exceed the retail tariff"
            )
        fn = self.system.market.functions.setTariffs(feed_in, retail, fee)
        return self._schedule("set tariffs", fn)

    def set_seller_fee(self, fee: int) -> Scheduled:
        """Schedules a new seller fee per kWh (offers placed after execution snapshot it; each
        settled seller pays it out of its receipt, never more than the receipt)."""
        if fee > MAX_FEE_PER_KWH:
            raise PreflightError(
                f"seller fee {format_credits(fee)} per kWh is above the most an order can carry, "
                f"{format_credits(MAX_FEE_PER_KWH)} per kWh (2^24 - 1 base units)"
            )
        fn = self.system.market.functions.setSellerFee(fee)
        return self._schedule("set the seller fee", fn)

    def declare_outage(self, first: int, last: int, cap: int) -> Scheduled:
        """Schedules making slots `first..last` outage slots (island mode) with price cap `cap`.

        The declaration must be executed before the first slot's gate closes, so schedule it
        at least the governance delay ahead.
        """
        feed_in, retail, _fee = self.system.market.functions.tariffs().call()
        if cap == 0 or not feed_in <= cap <= retail:
            raise PreflightError(
                f"the price cap {format_credits(cap)} must be above 0 and lie between the "
                f"feed-in tariff {format_credits(feed_in)} and the retail tariff "
                f"{format_credits(retail)}"
            )
        if first > last:
            raise PreflightError(f"the outage must start before it ends: slot {first} > {last}")
        fn = self.system.market.functions.declareOutage(first, last, cap)
        return self._schedule("declare outage", fn)

    def mint(self, account: str, amount: int, ref: bytes) -> None:
        """Mints a top-up. There is no operator burn: a household redeems its own credits."""
        self.check_role()
        if not self.registry.participant(account).registered:
            raise PreflightError(f"{account} is not registered: register it before topping up")
        limit = self.credit.mint_limit()
        if amount > limit:
            raise PreflightError(
                f"{format_credits(amount)} is above the per-mint limit of "
                f"{format_credits(limit)}: split the top-up, each part with its own reference"
            )
        if self.credit.reference_used(ref):
            raise PreflightError(
                f"payment reference {describe_ref(ref)} was already used: each top-up needs the "
                "reference of its own payment"
            )
        self._do("mint", lambda: self.credit.mint(self.signer, account, amount, ref))


def explain(exc: ContractRevert, action: str) -> ContractRevert:
    """Operator-facing sentences for the reverts the checks cannot always foresee."""
    args = exc.error_args
    ref = describe_ref(bytes(args.get("paymentRef", b"")))
    messages = {
        "AccessControlUnauthorizedAccount": (
            f"cannot {action}: the signing account lacks the role it needs; "
            "ask the admin to grant it"
        ),
        "TimelockUnexpectedOperationState": (
            f"cannot {action}: the operation is not in the state this needs (not ready yet, "
            "already executed or cancelled): see `p2penergy admin pending`"
        ),
        "RegistryDeviceInUse": (
            f"cannot {action}: device {args.get('device')} already belongs to meter "
            f"#{args.get('meterId')}: use a new device key"
        ),
        "RegistryZeroCapacity": f"cannot {action}: the capacity must be above 0 kW",
        "RegistryParticipantExists": (
            f"cannot {action}: {args.get('account')} is already registered"
        ),
        "RegistryUnknownParticipant": (
            f"cannot {action}: {args.get('account')} is not registered: register it first"
        ),
        "RegistryMeterOwnerInvalid": (
            f"cannot {action}: {args.get('owner')} cannot own a meter (register it as a "
            "consumer or prosumer first)"
        ),
        "CreditAccountNotAllowed": (
            f"cannot {action}: {args.get('account')} is not an active participant"
        ),
        "MarketInvalidTariffs": (
            f"cannot {action}: tariffs need feed-in <= retail and a network fee of at most "
            f"{format_credits(MAX_FEE_PER_KWH)} per kWh"
        ),
        "MarketInvalidSellerFee": (
            f"cannot {action}: the seller fee {format_credits(int(args.get('sellerFeePerKWh', 0)))}"
            f" per kWh is above the most an order can carry, "
            f"{format_credits(int(args.get('maxFeePerKWh', MAX_FEE_PER_KWH)))} per kWh"
        ),
        "CreditMintLimitExceeded": (
            f"cannot {action}: {format_credits(int(args.get('amount', 0)))} is above the per-mint "
            f"limit of {format_credits(int(args.get('limit', 0)))}: split the top-up, each part "
            "with its own payment reference"
        ),
        "CreditReferenceUsed": (
            f"cannot {action}: payment reference {ref} was already used: "
            "each top-up needs the reference of its own payment"
        ),
    }
    message = messages.get(exc.name)
    return RefusedByContract(exc, message) if message else exc
