"""Governance reviewed, not just listed: each privileged action is a finding with a severity,
and an optional policy turns a departure into a failure.

Severities: `warning` for actions that can move or freeze someone else's money or energy
(admin changes, the market role, meter key rotations and deactivations, burns of another
account's credits, an outage with a zero cap, a timelock's minimum delay), `info` for the rest.
A `ReadingSkipped` for a slot that ended before its meter's key or status changed is a failure:
delivered energy stays delivered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from eth_utils.address import is_hex_address
from eth_utils.crypto import keccak

from p2penergy.audit.checks import INFO, WARNING, Findings
from p2penergy.audit.history import Event, History
from p2penergy.chain import artifacts
from p2penergy.domain.participants import ROLE_NAMES
from p2penergy.exceptions import P2PEnergyError

GOVERNANCE = "governance"
POLICY = "policy"
TIMELOCK_ROLES = ("PROPOSER_ROLE", "EXECUTOR_ROLE", "CANCELLER_ROLE")
ROLE_IDS = {keccak(text=name): name for name in (*ROLE_NAMES, *TIMELOCK_ROLES)} | {
    bytes(32): "DEFAULT_ADMIN_ROLE"
}
TARIFF_FIELDS = {
    "feed_in_per_kwh": "feedInPerKWh",
    "retail_per_kwh": "retailPerKWh",
    "network_fee_per_kwh": "networkFeePerKWh",
    "seller_fee_per_kwh": "sellerFeePerKWh",
}
# ReadingSkipped reasons that a meter change (key or status) can cause.
VOIDING_ERRORS = ("ReadingsInactiveMeter", "ReadingsWrongSigner", "ReadingsUnknownDevice")


class PolicyError(P2PEnergyError, ValueError):
    """The policy file is unreadable or malformed."""


@dataclass(frozen=True)
class Policy:
    """Who may hold which role, each meter's expected key, allowed tariff ranges."""

    roles: dict[bytes, frozenset[str]] = field(default_factory=dict)  # role id -> accounts
    meters: dict[int, str] = field(default_factory=dict)  # meter id -> device key
    tariffs: dict[str, tuple[int, int]] = field(default_factory=dict)  # event arg -> [min, max]

    @staticmethod
    def load(path: Path, addresses: Mapping[str, str]) -> Policy:
        """Reads a policy YAML (docs/audit.md); address-book names stand for their address."""
        try:
            # BaseLoader: every scalar stays text, so an unquoted 0x address is not read as a
            # hexadecimal integer.
            data = yaml.load(path.read_text(), Loader=yaml.BaseLoader) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise PolicyError(f"cannot read the policy {path}: {type(exc).__name__}") from exc
        if not isinstance(data, dict) or set(data) - {"roles", "meters", "tariffs"}:
            raise PolicyError(f"{path}: the policy has the keys roles, meters and tariffs only")

        def account(value: object, where: str) -> str:
            text = str(value)
            if text in addresses:
                return addresses[text].lower()
            if not is_hex_address(text):
                raise PolicyError(f"{path}: {where}: {text} is not an address or a contract name")
            return text.lower()

        roles = {}
        for name, holders in (data.get("roles") or {}).items():
            role = bytes(32) if name == "DEFAULT_ADMIN_ROLE" else keccak(text=str(name))
            roles[role] = frozenset(account(h, f"roles.{name}") for h in holders or [])
        meters = {}
        for meter, key in (data.get("meters") or {}).items():
            if not str(meter).isdigit():
                raise PolicyError(f"{path}: meters: {meter} is not a meter id")
            meters[int(meter)] = account(key, f"meters.{meter}")
        tariffs = {}
        for name, bounds in (data.get("tariffs") or {}).items():
            if name not in TARIFF_FIELDS or not _pair(bounds):
                raise PolicyError(
                    f"{path}: tariffs.{name}: expected one of {sorted(TARIFF_FIELDS)} "
                    "with [min, max] integers"
                )
            tariffs[TARIFF_FIELDS[name]] = (int(bounds[0]), int(bounds[1]))
        return Policy(roles, meters, tariffs)


def _pair(value: object) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(str(v).isdigit() for v in value)


def role_name(role: bytes) -> str:
    """A role's name when known, else its id."""
    return ROLE_IDS.get(role, "0x" + role.hex())


def check_governance(
    history: History, out: Findings, policy: Policy | None, timing: Callable[[], Any]
) -> None:
    """Governance findings with severities, policy departures, readings voided by a change.

    `timing()` returns MeterReadings' (epoch, slot length, window); it is asked only when a
    reading was skipped for a reason a meter change can cause.
    """
    for name, address in sorted(history.missing_abi.items()):
        out.add(
            GOVERNANCE,
            True,
            f"{name}: no shipped ABI; its OpenZeppelin governance events are decoded",
            party=address,
            severity=WARNING,
        )
    for e in history.governance:
        _finding(history, e, out)
    for e in history.unknown:
        out.add(
            GOVERNANCE,
            True,
            f"{e.contract}: an event the shipped ABI does not know (topic {e.args['topic0']})",
            party=history.addresses.get(e.contract),
            block=e.position[0],
            severity=WARNING,
        )
    if policy is not None:
        _policy(history, policy, out)
    _voided_readings(history, out, timing)


def _finding(history: History, e: Event, out: Findings) -> None:
    a, n = e.args, e.name
    where: dict[str, Any] = {"block": e.position[0]}
    book = set(history.addresses.values())
    by = f" by {e.sender}" if e.sender else ""
    severity = INFO
    if n in ("RoleGranted", "RoleRevoked"):
        role = role_name(a["role"])
        verb = "granted to" if n == "RoleGranted" else "revoked from"
        text = f"{e.contract}: {role} {verb} {a['account']}{by}"
        where["party"] = a["account"]
        if role == "DEFAULT_ADMIN_ROLE" or (
            role == "MARKET_ROLE" and (n == "RoleRevoked" or a["account"] not in book)
        ):
            severity = WARNING
    elif n == "RoleAdminChanged":
        text = (
            f"{e.contract}: the admin of {role_name(a['role'])} changed from "
            f"{role_name(a['previousAdminRole'])} to {role_name(a['newAdminRole'])}{by}"
        )
        severity = WARNING
    elif n.startswith("DefaultAdmin"):
        details = ", ".join(f"{k}={v}" for k, v in a.items())
        text = f"{e.contract}: {n}({details}){by}"
        severity = WARNING
    elif n == "MeterKeyRotated":
        owner = history.meter_owner.get(a["meterId"])
        text = f"meter {a['meterId']} of {owner}: key {a['oldDevice']} -> {a['newDevice']}{by}"
        where["party"] = owner
        severity = WARNING
    elif n == "MeterStatusSet":
        owner = history.meter_owner.get(a["meterId"])
        state = "activated" if a["active"] else "deactivated"
        text = f"meter {a['meterId']} of {owner} {state}{by}"
        where["party"] = owner
        severity = INFO if a["active"] else WARNING
    elif n == "OutageDeclared":
        text = f"outage declared for slot {a['slot']}, price cap {a['priceCapPerKWh']}{by}"
        where["slot"] = a["slot"]
        severity = WARNING if a["priceCapPerKWh"] == 0 else INFO
    elif n == "TariffsSet":
        text = (
            f"tariffs set: feed-in {a['feedInPerKWh']}, retail {a['retailPerKWh']}, network "
            f"fee {a['networkFeePerKWh']} per kWh{by}"
        )
    elif n == "SellerFeeSet":
        text = f"seller fee set: {a['sellerFeePerKWh']} per kWh{by}"
    elif n in ("ParticipantSuspended", "ParticipantReinstated"):
        text = f"{a['account']}: {n.removeprefix('Participant').lower()}{by}"
        where["party"] = a["account"]
    elif n == "CallScheduled":
        text = (
            f"{e.contract}: call {_call(history, a['target'], a['data'])} scheduled "
            f"(id 0x{a['id'].hex()}, delay {a['delay']} s){by}"
        )
    elif n == "CallExecuted":
        text = (
            f"{e.contract}: call {_call(history, a['target'], a['data'])} executed "
            f"(id 0x{a['id'].hex()}){by}"
        )
    elif n == "Cancelled":
        text = f"{e.contract}: scheduled call 0x{a['id'].hex()} cancelled{by}"
    elif n == "MinDelayChange":
        text = f"{e.contract}: minimum delay {a['oldDuration']} s -> {a['newDuration']} s{by}"
        severity = WARNING
    elif n == "CallSalt":
        return
    elif "paymentRef" in a:
        if n == "CreditMinted":
            return  # top-ups: checked against references and the ledger
        holder = a.get("account")
        ref = "0x" + bytes(a["paymentRef"]).hex()
        text = f"{n}: {a.get('amount')} credits of {holder} (reference {ref}){by}"
        where.update(party=holder, amount=a.get("amount"))
        severity = INFO if e.sender == holder else WARNING
        if severity == WARNING:
            text += ", not the holder"
    else:
        details = ", ".join(f"{k}={v}" for k, v in a.items())
        text = f"{e.contract}: {n}({details}){by}"
        severity = WARNING
    out.add(GOVERNANCE, True, text, severity=severity, **where)


def _call(history: History, target: str, data: bytes) -> str:
    """`Contract.function(args)` of a scheduled call when its target is in the address book."""
    names = {a: n for n, a in history.addresses.items()}
    name = names.get(target.lower())
    if name is None or name in history.missing_abi:
        return f"{target}:0x{bytes(data).hex()}"
    try:
        contract = _decoder(name)
        fn, params = contract.decode_function_input(bytes(data))
    except ValueError:
        return f"{name}:0x{bytes(data).hex()}"
    rendered = ", ".join(f"{k}={_plain(v)}" for k, v in params.items())
    return f"{name}.{fn.fn_name}({rendered})"


def _decoder(name: str) -> Any:
    from web3 import Web3

    return Web3().eth.contract(abi=artifacts.load(name)["abi"])


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return role_name(value) if value in ROLE_IDS else "0x" + value.hex()
    return value


def _policy(history: History, policy: Policy, out: Findings) -> None:
    """Each departure from the policy is a failure naming the account, meter or tariff."""
    for e in history.governance:
        a = e.args
        where = {"block": e.position[0]}
        if e.name == "RoleGranted" and a["role"] in policy.roles:
            allowed = policy.roles[a["role"]]
            if a["account"] not in allowed:
                out.add(
                    POLICY,
                    False,
                    f"{e.contract}: {role_name(a['role'])} granted to {a['account']}, "
                    "who the policy does not allow to hold it",
                    party=a["account"],
                    **where,
                )
        elif e.name == "MeterKeyRotated" and a["meterId"] in policy.meters:
            want = policy.meters[a["meterId"]]
            if a["newDevice"] != want:
                out.add(
                    POLICY,
                    False,
                    f"meter {a['meterId']}: key rotated to {a['newDevice']}, the policy "
                    f"expects {want}",
                    party=history.meter_owner.get(a["meterId"]),
                    **where,
                )
        elif e.name in ("TariffsSet", "SellerFeeSet"):
            for arg, (low, high) in policy.tariffs.items():
                if arg in a and not low <= a[arg] <= high:
                    out.add(
                        POLICY,
                        False,
                        f"tariff {arg} set to {a[arg]}, outside the policy's [{low}, {high}]",
                        amount=a[arg],
                        **where,
                    )
    for meter, want in sorted(policy.meters.items()):
        keys = history.meter_keys.get(meter)
        got = keys[-1][1] if keys else None
        if got != want:
            out.add(
                POLICY,
                False,
                f"meter {meter}: key {got} at the audited head, the policy expects {want}",
                party=history.meter_owner.get(meter),
            )
    out.add(POLICY, True, "roles, meter keys and tariffs checked against the policy")


def _voided_readings(history: History, out: Findings, timing: Callable[[], Any]) -> None:
    """A reading skipped because its meter changed after the slot ended is a failure."""
    selectors = _error_selectors()
    voidable = [e for e in history.skipped if selectors.get(bytes(e.args["reason"])) is not None]
    if not voidable:
        return
    params = timing()
    if params is None:
        return  # the read failed: already a "could not check" failure
    epoch, length = int(params[0]), int(params[1])
    changes: dict[int, list[Event]] = {}
    for e in history.governance:
        if e.name in ("MeterKeyRotated", "MeterStatusSet"):
            changes.setdefault(e.args["meterId"], []).append(e)
    for e in voidable:
        meter, slot = e.args["meterId"], e.args["slot"]
        ended = epoch + (slot + 1) * length
        owner = history.meter_owner.get(meter)
        signed = e.args.get("signed")
        export = signed[0][3] if signed else None
        late = [
            c
            for c in changes.get(meter, [])
            if c.position < e.position and history.block_times.get(c.position[0], 0) >= ended
        ]
        reason = selectors[bytes(e.args["reason"])]
        if late:
            out.add(
                GOVERNANCE,
                False,
                f"meter {meter} slot {slot}: reading skipped ({reason}) after the meter's "
                f"{late[0].name} in block {late[0].position[0]}, when the slot had already "
                "ended: delivered energy voided",
                slot=slot,
                party=owner,
                amount=export,
                block=e.position[0],
            )


def _error_selectors() -> dict[bytes, str]:
    """Selector -> name of the MeterReadings errors a meter change can cause."""
    table = {}
    for item in artifacts.load("IMeterReadings")["abi"]:
        if item.get("type") == "error" and item["name"] in VOIDING_ERRORS:
            types = ",".join(i["type"] for i in item["inputs"])
            table[keccak(text=f"{item['name']}({types})")[:4]] = str(item["name"])
    return table
