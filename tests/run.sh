#!/usr/bin/env bash
# Runs every Sitebox test against real peers.
#
# Installs the Debian packages and Python clients the tests talk to (as root with apt-get; as
# another user it names the missing packages and fails), puts the Python clients in a virtualenv
# under target/peers, then runs `cargo test --workspace`. Each test starts the servers it needs
# (mosquitto, PostgreSQL, FreeRADIUS, siteboxd, the RouterOS simulator) on free loopback ports in
# temp dirs and stops them itself; nothing here depends on a service already running.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# Debian packages: program to look for, then the package that provides it.
debian_peers=(
  "radclient freeradius-utils"
  "freeradius freeradius"
  "mosquitto mosquitto"
  "mosquitto_pub mosquitto-clients"
  "/usr/lib/postgresql/15/bin/initdb postgresql"
  "chromium chromium"
  "systemd-analyze systemd"
  "debootstrap debootstrap"
  "python3 python3"
  "pkg-config pkg-config"
  "faketime faketime"
  "cc gcc"
)
python_peers=(pyrad==2.6.0 librouteros==4.2.2 routeros-api==0.21.0)

missing=()
for entry in "${debian_peers[@]}"; do
  program=${entry% *}
  package=${entry#* }
  if [[ $program == /* ]]; then
    [[ -x $program ]] || missing+=("$package")
  else
    command -v "$program" >/dev/null 2>&1 || [[ -x /usr/sbin/$program ]] || missing+=("$package")
  fi
done
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=("python3-venv")

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "tests/run.sh: missing Debian packages: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "tests/run.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The packaged services must not hold the ports or files the tests use.
  for service in freeradius mosquitto; do
    if command -v systemctl >/dev/null 2>&1; then systemctl disable --now "$service" >/dev/null 2>&1 || true; fi
  done
fi

venv="$root/target/peers/venv"
stamp="$venv/.sitebox-peers"
want="${python_peers[*]}"
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "tests/run.sh: making $venv with ${python_peers[*]}"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "${python_peers[@]}"
  echo "$want" > "$stamp"
fi
export SITEBOX_PYTHON="$venv/bin/python"

# The suite runs as root (CI containers); `siteboxd run` refuses root unless this says so.
export SITEBOX_ALLOW_ROOT=1

# Tests write screenshots and reports here.
export SITEBOX_ARTIFACTS="$root/target/test-artifacts"
mkdir -p "$SITEBOX_ARTIFACTS"

cargo test --workspace --locked "$@"
