#!/usr/bin/env bash
# Sets up everything p2penergy needs, idempotently: .venv/ (pinned Python packages),
# node_modules/ (pinned solc, OpenZeppelin, Hardhat, anvil), the solc facade for py-solc-x and brownie,
# brownie's hardhat network on 127.0.0.1, and the compiled artifacts.
# A second run only re-checks (a few seconds). Needs Python >= 3.11 and Node >= 20.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
root=$(pwd)
stamps=.setup-stamps
mkdir -p "$stamps"

say() { printf '[setup] %s\n' "$*" >&2; }

pick_python() {
  for candidate in ${PYTHON:-} python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
  say "Python >= 3.11 not found (set PYTHON=/path/to/python3.11)"
  exit 1
}

changed() { # changed NAME FILES...: true when the files differ from the last successful run
  local name=$1
  shift
  local sum
  sum=$(cat "$@" | sha256sum | cut -d' ' -f1)
  [ "$(cat "$stamps/$name" 2>/dev/null)" != "$sum" ] && echo "$sum" >"$stamps/$name.new"
}
done_stamp() { mv "$stamps/$1.new" "$stamps/$1"; }

command -v node >/dev/null || { say "node not found: install Node.js >= 20"; exit 1; }
node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 20 ? 1 : 0)' ||
  { say "Node.js >= 20 required (found $(node --version))"; exit 1; }

if [ ! -x .venv/bin/python ]; then
  py=$(pick_python)
  say "creating .venv with $py"
  "$py" -m venv .venv
  rm -f "$stamps/pip"
fi
if changed pip pyproject.toml constraints.txt || [ ! -x .venv/bin/p2penergy ]; then
  say "installing Python packages (pinned by constraints.txt)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
  [ -f "$stamps/pip.new" ] && done_stamp pip
fi

if changed npm package-lock.json || [ ! -d node_modules/solc ] || [ ! -d node_modules/@foundry-rs/anvil ] || [ ! -d node_modules/@foundry-rs/forge ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  [ -f "$stamps/npm.new" ] && done_stamp npm
fi

.venv/bin/p2penergy toolchain install >&2

# brownie's built-in hardhat network points at "localhost"; pin it to IPv4 loopback.
if ! .venv/bin/python - <<'PY' 2>/dev/null; then
import pathlib, sys, yaml
config = yaml.safe_load((pathlib.Path.home() / ".brownie" / "network-config.yaml").read_text())
hosts = {n["id"]: n.get("host") for n in config["development"]}
sys.exit(hosts.get("hardhat") != "http://127.0.0.1")
PY
  say "pointing brownie's hardhat network at 127.0.0.1"
  (cd /tmp && "$root/.venv/bin/brownie" networks modify hardhat host=http://127.0.0.1 >/dev/null)
fi

# brownie's default network must be hardhat; see the comment in brownie-config.yaml for why this
# lives in the home config.
home_config="$HOME/brownie-config.yaml"
if [ ! -f "$home_config" ]; then
  printf '# written by p2penergy bootstrap.sh\nnetworks:\n  default: hardhat\n' >"$home_config"
elif ! grep -q "default: hardhat" "$home_config"; then
  say "warning: $home_config exists without 'networks: default: hardhat'; pass --network hardhat"
fi

.venv/bin/p2penergy compile >&2

# pytest runs in two pytest-xdist workers (pyproject.toml), each loading the brownie project:
# build it once here so they find it built instead of compiling side by side.
(cd "$root" && .venv/bin/brownie compile >/dev/null)
rm -f "$root"/build/tests-*.json

# The simulation report's browser test renders the HTML in Debian's chromium.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's chromium (the report's browser test)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2
  else
    say "warning: chromium is missing; the browser test needs Debian's chromium package"
  fi
fi
say "ready: .venv/bin/p2penergy"
