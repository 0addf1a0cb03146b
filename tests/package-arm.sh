#!/usr/bin/env bash
# Builds the arm64 and armhf Debian packages and runs their siteboxd under qemu-user.
#
#  1. the toolchains, installed when missing (as root): the Rust targets (rustup), Debian's cross
#     gcc and libc for each target, qemu-user-static, cargo-deb (the same pin as tests/package.sh);
#  2. `cargo deb -p sitebox --target …` per target (a release build with the package's own
#     settings: no simulator, no failpoints) into target/debian/, beside the amd64 package:
#     sitebox_VERSION-1_arm64.deb and sitebox_VERSION-1_armhf.deb;
#  3. each archive: Architecture, Depends, the same files and modes as the amd64 package, and
#     /usr/bin/siteboxd an ELF for that machine holding no simulator and no failpoints;
#  4. the binary taken from each package, under qemu-aarch64-static / qemu-arm-static, on the
#     embedded defaults (`siteboxd print-default-config`) with their in-process simulator off
#     (the package has none) and free loopback ports: it starts, takes a simulated router
#     (the host's `routeros-sim`) added with `siteboxd routers add`, configures it for RADIUS,
#     answers radclient's PAP and CHAP Access-Requests (Access-Accept with the plan's rate
#     limit; a wrong password rejected) and an Accounting-Start (stored), puts the subscriber
#     on the router (read back through the RouterOS API with librouteros), and stops on
#     SIGTERM with exit status 0 and "siteboxd stopped".
#
# docs/OPERATIONS.md, "Cross-building for ARM boards", is what step 1 and 2 run.
#
# Usage: tests/package-arm.sh [--no-build] [arm64|armhf ...]   (as root on a fresh machine:
# apt-get needs it; with everything installed any user will do)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# Keep in step with tests/package.sh.
cargo_deb_version=3.8.0
build=1
arches=()
for arg in "$@"; do
  case $arg in
    --no-build) build=0 ;;
    arm64 | armhf) arches+=("$arg") ;;
    *) echo "usage: tests/package-arm.sh [--no-build] [arm64|armhf ...]" >&2; exit 64 ;;
  esac
done
((${#arches[@]})) || arches=(arm64 armhf)

fail() { echo "tests/package-arm.sh: FAIL: $*" >&2; exit 1; }
pass() { echo "tests/package-arm.sh: ok: $*"; passed=$((passed + 1)); }
say() { echo "tests/package-arm.sh: $*"; }
passed=0

# Per Debian architecture: the Rust target, the cross gcc, Debian's packages, qemu, the ELF
# machine (e_machine) of its binaries.
triple() { case $1 in arm64) echo aarch64-unknown-linux-gnu ;; armhf) echo armv7-unknown-linux-gnueabihf ;; esac; }
gnu() { case $1 in arm64) echo aarch64-linux-gnu ;; armhf) echo arm-linux-gnueabihf ;; esac; }
debian_packages() { case $1 in arm64) echo gcc-aarch64-linux-gnu libc6-dev-arm64-cross ;; armhf) echo gcc-arm-linux-gnueabihf libc6-dev-armhf-cross ;; esac; }
qemu() { case $1 in arm64) echo qemu-aarch64-static ;; armhf) echo qemu-arm-static ;; esac; }
elf_machine() { case $1 in arm64) echo 183 ;; armhf) echo 40 ;; esac; }

# --- 1. toolchains --------------------------------------------------------------------------
missing=()
for arch in "${arches[@]}"; do
  command -v "$(gnu "$arch")-gcc" >/dev/null || missing+=($(debian_packages "$arch"))
  [[ -f /usr/$(gnu "$arch")/include/stdio.h ]] || missing+=($(debian_packages "$arch"))
  command -v "$(qemu "$arch")" >/dev/null || missing+=(qemu-user-static)
done
command -v radclient >/dev/null || missing+=(freeradius-utils)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
if ((${#missing[@]})); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  [[ $(id -u) -eq 0 ]] || fail "missing Debian packages: ${missing[*]} (sudo apt-get install -y ${missing[*]})"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
installed_targets=$(rustup target list --installed)
for arch in "${arches[@]}"; do
  grep -qx "$(triple "$arch")" <<<"$installed_targets" || rustup target add "$(triple "$arch")"
done
if [[ $(cargo deb --version 2>/dev/null || true) != *"$cargo_deb_version"* ]]; then
  say "installing cargo-deb $cargo_deb_version"
  cargo install cargo-deb --version "$cargo_deb_version" --locked --quiet
fi

# --- 2. build -------------------------------------------------------------------------------
# ring and SQLite compile C for the target: the cc crate takes CC_<triple>; rustc links with
# the cross gcc (CARGO_TARGET_<TRIPLE>_LINKER).
for arch in "${arches[@]}"; do
  t=$(triple "$arch")
  export "CC_${t//-/_}=$(gnu "$arch")-gcc"
  upper=${t//-/_}
  export "CARGO_TARGET_${upper^^}_LINKER=$(gnu "$arch")-gcc"
done
if ((build)); then
  started=$SECONDS
  # cargo deb builds with the package's own settings ([package.metadata.deb] of daemon/:
  # features, profile); the second target reuses the host's build scripts and proc macros.
  for arch in "${arches[@]}"; do
    cargo deb -p sitebox --target "$(triple "$arch")" --output target/debian/ -- --locked
  done
  say "built in $((SECONDS - started)) s"
fi
version=$(cargo metadata --format-version 1 --no-deps --locked \
  | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="sitebox"))')

work=$(mktemp -d /tmp/sitebox-package-arm.XXXXXX)
daemon_pid=
sim_pid=
cleanup() {
  if [[ -n $daemon_pid ]]; then kill -KILL "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
  if [[ -n $sim_pid ]]; then kill -TERM "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- 3. the archives ------------------------------------------------------------------------
# The file list (modes, owners, paths) of a package, without sizes and dates.
entries() { dpkg-deb --contents "$1" | awk '{print $1, $2, $NF}' | sort; }
amd64_deb=$(ls target/debian/sitebox_"${version}"-1_amd64.deb 2>/dev/null || true)
for arch in "${arches[@]}"; do
  deb="$root/target/debian/sitebox_${version}-1_${arch}.deb"
  [[ -f $deb ]] || fail "$deb was not built"
  field() { dpkg-deb --field "$deb" "$1"; }
  [[ $(field Package) == sitebox ]] || fail "$arch: Package is $(field Package)"
  [[ $(field Architecture) == "$arch" ]] || fail "$arch: Architecture is $(field Architecture)"
  [[ $(field Depends) == *adduser* && $(field Depends) == *libc6* ]] || fail "$arch: Depends: $(field Depends)"
  if [[ -n $amd64_deb ]]; then
    diff <(entries "$amd64_deb") <(entries "$deb") >"$work/entries.diff" \
      || fail "$arch: the files differ from the amd64 package's: $(cat "$work/entries.diff")"
  fi
  mkdir -p "$work/$arch"
  dpkg-deb -x "$deb" "$work/$arch"
  bin="$work/$arch/usr/bin/siteboxd"
  # ELF e_machine: 2 bytes, little-endian, at offset 18.
  machine=$(od -An -t u2 -j 18 -N 2 "$bin" | tr -d ' ')
  [[ $machine == "$(elf_machine "$arch")" ]] || fail "$arch: /usr/bin/siteboxd is for ELF machine $machine"
  # What ships is what runs (as tests/package.sh checks for amd64).
  for dev_only in simulate-router SITEBOX_SYNC_FAILPOINT; do
    ! grep -aq "$dev_only" "$bin" || fail "$arch: the packaged siteboxd contains $dev_only"
  done
  pass "$arch: $(basename "$deb") ($(stat -c %s "$deb") bytes), Depends: $(field Depends), siteboxd ELF machine $machine ($(stat -c %s "$bin") bytes)${amd64_deb:+, same files and modes as amd64}"
done

# --- 4. the binaries under qemu -------------------------------------------------------------
# librouteros reads the simulated router through its API: the tests' virtualenv when
# tests/run.sh made it, else one of our own.
python=$root/target/peers/venv/bin/python
if ! "$python" -c 'import librouteros' 2>/dev/null; then
  venv=$root/target/peers/arm-venv
  python=$venv/bin/python
  if ! "$python" -c 'import librouteros' 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check librouteros==4.2.2
  fi
fi

# The router: the host's RouterOS simulator on a free port (the package's siteboxd has none
# inside), added to each daemon as a managed router.
cargo build --locked --quiet -p sitebox-routeros --bin routeros-sim
free_port() { # tcp|udp
  python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if sys.argv[1] == "tcp" else socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' "$1"
}
secret=arm-radius-secret
for arch in "${arches[@]}"; do
  run_dir="$work/run-$arch"
  mkdir -p "$run_dir"
  emulator=("$(qemu "$arch")" -L "/usr/$(gnu "$arch")")
  bin="$work/$arch/usr/bin/siteboxd"
  auth=127.0.0.1:$(free_port udp)
  acct=127.0.0.1:$(free_port udp)
  api_port=$(free_port tcp)
  target/debug/routeros-sim --listen "127.0.0.1:$api_port" >"$run_dir/routeros-sim.log" 2>&1 &
  sim_pid=$!
  # The embedded defaults, as this build prints them; only the simulator and the ports change.
  # The daemon and the CLI share the defaults' relative data dir: both run in $run_dir.
  (cd "$run_dir" && env SITEBOX_ALLOW_ROOT=1 "${emulator[@]}" "$bin" print-default-config) \
    | python3 -c '
import sys
wanted = {("radius", "auth_listen"): sys.argv[1], ("radius", "acct_listen"): sys.argv[2],
          ("web", "listen"): sys.argv[3], ("simulator", "enabled"): "false"}
section, out = None, []
for line in sys.stdin.read().splitlines():
    if line.startswith("["):
        section = line.strip("[]")
    key = line.split("=")[0].strip()
    if (section, key) in wanted:
        value = wanted.pop((section, key))
        line = f"{key} = {value}" if value == "false" else f"{key} = \"{value}\""
    out.append(line)
assert not wanted, f"not in the embedded defaults: {sorted(wanted)}"
print("\n".join(out))' "$auth" "$acct" "127.0.0.1:$(free_port tcp)" >"$run_dir/sitebox.toml"
  siteboxd() { (cd "$run_dir" && env -u RUST_LOG SITEBOX_ALLOW_ROOT=1 "${emulator[@]}" "$bin" --config sitebox.toml "$@"); }
  log="$run_dir/daemon.log"
  started=$SECONDS
  (cd "$run_dir" && exec env -u RUST_LOG SITEBOX_ALLOW_ROOT=1 "${emulator[@]}" "$bin" --config sitebox.toml run) >"$log" 2>&1 &
  daemon_pid=$!
  wait_for() { # NEEDLE SECONDS
    local deadline=$((SECONDS + $2))
    until grep -qF "$1" "$log"; do
      kill -0 "$daemon_pid" 2>/dev/null || fail "$arch: siteboxd exited before \"$1\": $(cat "$log")"
      ((SECONDS < deadline)) || fail "$arch: no \"$1\" within $2 s: $(cat "$log")"
      sleep 0.1
    done
  }
  wait_for "siteboxd running" 60
  ready=$((SECONDS - started))
  siteboxd routers add gw1 --address 127.0.0.1 --secret "$secret" --api-host 127.0.0.1 \
    --api-port "$api_port" --api-user admin --api-password admin >"$run_dir/cli.log" 2>&1 \
    || fail "$arch: routers add: $(cat "$run_dir/cli.log")"
  wait_for "router configured for RADIUS" 60
  siteboxd plans add day --price 50 --validity 1d --rate-limit 2M/4M >"$run_dir/cli.log" 2>&1 \
    || fail "$arch: plans add: $(cat "$run_dir/cli.log")"
  siteboxd subscribers add alice --password arctangent >"$run_dir/cli.log" 2>&1 \
    || fail "$arch: subscribers add: $(cat "$run_dir/cli.log")"
  siteboxd subscribers grant alice --plan day >"$run_dir/cli.log" 2>&1 \
    || fail "$arch: subscribers grant: $(cat "$run_dir/cli.log")"

  radius() { # PORT TYPE ATTRIBUTES
    printf '%s\n' "$3" | radclient -x -r 2 -t 5 "$1" "$2" "$secret" 2>&1 || true
  }
  pap=$(radius "$auth" auth 'User-Name = "alice", User-Password = "arctangent", NAS-IP-Address = 127.0.0.1, Message-Authenticator = 0x00')
  [[ $pap == *Access-Accept* && $pap == *'Mikrotik-Rate-Limit = "2M/4M"'* ]] || fail "$arch: PAP: $pap
$(cat "$log")"
  chap=$(radius "$auth" auth 'User-Name = "alice", CHAP-Password = "arctangent", NAS-IP-Address = 127.0.0.1, Message-Authenticator = 0x00')
  [[ $chap == *Access-Accept* ]] || fail "$arch: CHAP: $chap"
  wrong=$(radius "$auth" auth 'User-Name = "alice", CHAP-Password = "guess", NAS-IP-Address = 127.0.0.1, Message-Authenticator = 0x00')
  [[ $wrong == *Access-Reject* ]] || fail "$arch: a wrong CHAP password: $wrong"
  start=$(radius "$acct" acct 'User-Name = "alice", Acct-Status-Type = Start, Acct-Session-Id = "arm-1", NAS-IP-Address = 127.0.0.1, Framed-IP-Address = 10.5.50.2, Calling-Station-Id = "AA:BB:CC:00:00:01"')
  [[ $start == *Accounting-Response* ]] || fail "$arch: Accounting-Start: $start"
  sessions=$(siteboxd sessions list --json 2>&1) || fail "$arch: sessions list: $sessions"
  [[ $sessions == *'"arm-1"'* ]] || fail "$arch: the Accounting-Start is not stored: $sessions"
  pass "$arch: qemu: started on the embedded defaults in ${ready} s, router added and configured; PAP and CHAP Access-Accept, wrong password rejected, Accounting-Start answered and stored"

  # The subscriber reaches the simulated router: its hotspot user with the plan's profile,
  # tagged as Sitebox's and disabled, so the router asks the box while it answers (its netwatch
  # enables it only when the box is away). The grant queues the provisioning; under qemu it
  # takes a moment.
  deadline=$((SECONDS + 60))
  until router=$(API_PORT=$api_port "$python" - 2>&1 <<'PY'
import os, librouteros
api = librouteros.connect("127.0.0.1", "admin", "admin", port=int(os.environ["API_PORT"]))
users = [u for u in api.path("ip", "hotspot", "user") if u.get("name") == "alice"]
radius = [r for r in api.path("radius") if r.get("address") == "127.0.0.1"]
profiles = [p for p in api.path("ip", "hotspot", "user", "profile") if p.get("name") == "sitebox-day"]
assert users and radius and profiles, (users, radius, profiles)
user = users[0]
assert user.get("profile") == "sitebox-day" and user.get("disabled"), user
assert str(user.get("comment", "")).startswith("sitebox sub="), user
print(user.get("profile"), profiles[0].get("rate-limit"))
PY
  ); do
    ((SECONDS < deadline)) || fail "$arch: alice is not on the simulated router: $router
$(siteboxd queue list 2>&1)"
    sleep 0.5
  done
  pass "$arch: qemu: the simulated router configured for RADIUS (/radius 127.0.0.1); alice on it, disabled for the box to decide, profile and rate limit: $router"

  stopping=$SECONDS
  kill -TERM "$daemon_pid"
  status=0
  wait "$daemon_pid" || status=$?
  daemon_pid=
  kill -TERM "$sim_pid"
  wait "$sim_pid" || true
  sim_pid=
  ((status == 0)) || fail "$arch: siteboxd exited with $status on SIGTERM: $(tail -20 "$log")"
  grep -qF "siteboxd stopped" "$log" || fail "$arch: no \"siteboxd stopped\": $(tail -20 "$log")"
  pass "$arch: qemu: SIGTERM: drained and stopped in $((SECONDS - stopping)) s, exit 0 ($((SECONDS - started)) s in all)"
done

echo "$passed passed, 0 failed"
