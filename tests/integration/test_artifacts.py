"""The artifacts shipped in the package are exactly what the pinned compiler produces now."""

from __future__ import annotations

from pathlib import Path

import pytest

from p2penergy.chain import artifacts, toolchain
from p2penergy.chain.compile import compile_contracts, render


def test_recompiling_gives_byte_identical_artifacts():
    fresh = compile_contracts()
    assert sorted(fresh) == artifacts.names()
    for name, artifact in fresh.items():
        shipped = (artifacts.ARTIFACTS_DIR / f"{name}.json").read_text()
        assert render(artifact) == shipped, f"{name} differs: run `p2penergy compile`"


def test_artifacts_record_the_pinned_compiler_and_evm_version():
    for name in artifacts.names():
        compiler = artifacts.load(name)["compiler"]
        assert compiler["version"].startswith(toolchain.SOLC_VERSION + "+")
        assert compiler["evmVersion"] == toolchain.EVM_VERSION


def test_compiler_in_use_reports_the_pinned_version():
    assert toolchain.check_version(toolchain.solc_binary()).startswith(toolchain.SOLC_VERSION)


def test_a_facade_launcher_naming_another_checkout_is_re_pointed_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("SOLCX_BINARY_PATH", str(tmp_path))
    stale = tmp_path / f"solc-v{toolchain.SOLC_VERSION}"
    stale.write_text(
        '#!/bin/sh\n# p2penergy solcjs facade\nexec node "/gone/toolchain/solc.js" "$@"\n'
    )
    stale.chmod(0o755)
    binary = toolchain.solc_binary()
    assert binary == stale
    assert str(toolchain.repo_root() / "toolchain" / "solc.js") in binary.read_text()
    assert toolchain.check_version(binary).startswith(toolchain.SOLC_VERSION)


def test_a_native_solc_of_the_pinned_version_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("SOLCX_BINARY_PATH", str(tmp_path))
    native = tmp_path / f"solc-v{toolchain.SOLC_VERSION}"
    script = f"#!/bin/sh\necho 'Version: {toolchain.SOLC_VERSION}+commit.native'\n"
    native.write_text(script)
    native.chmod(0o755)
    assert toolchain.solc_binary() == native
    assert native.read_text() == script
