"""The operator's console as services: deploy, register, meters, tariffs, top-ups.

Each action is checked before signing (roles, registration, balances) and its reverts are
translated into sentences that say what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount

from p2penergy.chain.connect import Chain
from p2penergy.chain.deploy import Deployment, MarketConfig, System, deploy_system
from p2penergy.chain.tx import send_value, transact
from p2penergy.contracts.credit import CreditClient, describe_ref
from p2penergy.contracts.registry import RegistryClient
from p2penergy.exceptions import ContractRevert, DeploymentError
from p2penergy.units import format_credits
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
) -> tuple[System, Path]:
    """Deploys the system and writes `<folder>/<chainId>.json`; refuses to hide a live one."""
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

    def rotate_meter_key(self, meter_id: int, device: str) -> str:
        self.check_role()
        if not 0 < meter_id <= self.registry.meter_count():
            raise PreflightError(f"there is no meter #{meter_id}: see the registry's meters")
        old = self.registry.meter(meter_id).device
        self._do(
            "rotate the key",
            lambda: self.registry.rotate_meter_key(self.signer, meter_id, device),
        )
        return old

    def set_tariffs(self, feed_in: int, retail: int, fee: int) -> None:
        self.check_role()
        if feed_in > retail:
            raise PreflightError(
                f"feed-in {format_credits(feed_in)} is above retail {format_credits(retail)}: "
                "the feed-in tariff must not exceed the retail tariff"
            )
        fn = self.system.market.functions.setTariffs(feed_in, retail, fee)
        self._do("set tariffs", lambda: transact(self.system.chain, self.signer, fn))

    def declare_outage(self, first: int, last: int, cap: int) -> None:
        """Makes slots `first..last` outage slots (island mode) with price cap `cap`."""
        self.check_role()
        feed_in, retail, _fee = self.system.market.functions.tariffs().call()
        if not feed_in <= cap <= retail:
            raise PreflightError(
                f"the price cap {format_credits(cap)} must lie between the feed-in tariff "
                f"{format_credits(feed_in)} and the retail tariff {format_credits(retail)}"
            )
        if first > last:
            raise PreflightError(f"the outage must start before it ends: slot {first} > {last}")
        fn = self.system.market.functions.declareOutage(first, last, cap)
        self._do("declare outage", lambda: transact(self.system.chain, self.signer, fn))

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
        "MarketInvalidTariffs": f"cannot {action}: tariffs need feed-in <= retail",
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
