"""Keystores, device keys and the names file are written atomically with mode 0600: a writer
killed with SIGKILL at random points never leaves a partial file under a real name."""

from __future__ import annotations

import json
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from p2penergy.chain.keyfile import LIGHT_SCRYPT_N
from p2penergy.oracle.identity import new_keystore
from p2penergy.wallet.keystore import NAMES_FILE, Keystore

# Writes files of 2 MB (a wide window for the kill) named f0, f1, ... until killed.
WRITER = """
import sys
from pathlib import Path
from p2penergy._atomic import write_private
folder = Path(sys.argv[1])
start = int(sys.argv[2])
for i in range(start, start + 10_000):
    write_private(folder / f"f{i}", str(i) * (2_000_000 // len(str(i))) + "END")
"""


def test_a_writer_killed_at_random_points_never_leaves_a_partial_file(tmp_path: Path) -> None:
    rng = random.Random(14)
    complete = 0
    for round_ in range(8):
        first = str(round_ * 10_000)
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), first])
        time.sleep(rng.uniform(0.2, 0.8))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        for path in tmp_path.iterdir():
            if path.name.startswith("."):
                continue  # a temporary file of the killed write
            text = path.read_text()
            assert text.endswith("END"), f"{path.name} is partial ({len(text)} chars)"
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            complete += 1
    assert complete > 0  # the kills did come after some complete writes


def test_keystores_device_keys_and_names_are_private(tmp_path: Path) -> None:
    keystore = Keystore(tmp_path / "keys", scrypt_n=LIGHT_SCRYPT_N)
    entry = keystore.new("pw", name="alice")
    key = tmp_path / "device.json"
    new_keystore(key, "pw")
    for path in (entry.path, tmp_path / "keys" / NAMES_FILE, key):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        json.loads(path.read_text())
    assert not [p for p in (tmp_path / "keys").iterdir() if p.name.endswith(".tmp")]


def test_the_oracle_outbox_and_its_wal_files_are_private(tmp_path: Path) -> None:
    import os

    from p2penergy.oracle.outbox import Outbox
    from p2penergy.oracle.reading import Reading, sign_reading

    old = os.umask(0o022)  # a umask that would leave new files world-readable
    try:
        path = tmp_path / "outbox.sqlite"
        outbox = Outbox(path, 1337, "0x" + "11" * 20)
        signed = sign_reading("0x" + "22" * 32, Reading(1, 5, 10, 0, 10, 0), 1337, "0x" + "11" * 20)
        with outbox.transaction() as db:
            outbox.add(db, signed, "test:1")
        files = sorted(tmp_path.iterdir())
        assert [f.name for f in files] == [
            "outbox.sqlite",
            "outbox.sqlite-shm",
            "outbox.sqlite-wal",
        ]
        assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}
        outbox.close()
        # an outbox left world-readable by an earlier version is narrowed when opened
        path.chmod(0o644)
        Outbox(path).close()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(old)
