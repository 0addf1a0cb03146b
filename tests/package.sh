#!/usr/bin/env bash
# Builds the Debian package and checks it as an operator would meet it.
#
#  1. `cargo deb -p sitebox` (installs cargo-deb, pinned, when it is missing);
#  2. the archive: control fields, conffiles, file modes, maintainer scripts;
#  3. the unit: `systemd-analyze verify` against the unpacked files, and
#     `systemd-analyze security --offline=true --threshold=20` (exposure <= 2.0, "OK");
#  4. a fresh Debian root (debootstrap minbase, cached under $SITEBOX_PACKAGE_CACHE): install,
#     the user, directories, key and conffile with their owners and modes, the unit enabled,
#     the daemon run as root switching to its user, a backup while it runs, a reinstall that
#     keeps the key, `remove` keeping the data and `purge` deleting it.
#
# Usage: tests/package.sh [--no-build]   (run as root: dpkg and chroot need it)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

cargo_deb_version=3.8.0
suite=bookworm
mirror=${SITEBOX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${SITEBOX_PACKAGE_CACHE:-/var/tmp/sitebox-package-cache}
build=1
[[ ${1:-} == --no-build ]] && build=0

fail() { echo "tests/package.sh: FAIL: $*" >&2; exit 1; }
pass() { echo "tests/package.sh: ok: $*"; passed=$((passed + 1)); }
passed=0

[[ $(id -u) -eq 0 ]] || fail "run as root (dpkg --install into a chroot needs it)"
for program in dpkg-deb systemd-analyze debootstrap chroot; do
  command -v "$program" >/dev/null || [[ -x /usr/sbin/$program ]] \
    || fail "$program is missing: tests/run.sh installs it (apt-get install systemd debootstrap)"
done

# --- 1. build -------------------------------------------------------------------------------
if [[ $(cargo deb --version 2>/dev/null || true) != *"$cargo_deb_version"* ]]; then
  echo "tests/package.sh: installing cargo-deb $cargo_deb_version"
  cargo install cargo-deb --version "$cargo_deb_version" --locked --quiet
fi
if ((build)); then
  cargo deb -p sitebox -- --locked
fi
version=$(cargo metadata --format-version 1 --no-deps --locked \
  | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="sitebox"))')
arch=$(dpkg --print-architecture)
deb="$root/target/debian/sitebox_${version}-1_${arch}.deb"
[[ -f $deb ]] || fail "$deb was not built"
echo "tests/package.sh: checking $deb ($(du -h "$deb" | cut -f1))"

work=$(mktemp -d /tmp/sitebox-package.XXXXXX)
cleanup() {
  if [[ -n ${daemon_pid:-} ]]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
  if [[ -n ${listener_pid:-} ]]; then kill "$listener_pid" 2>/dev/null || true; fi
  # The notify socket's dir is bind-mounted into the root: unmount before deleting anything.
  if mountpoint -q "$work/root/run/notify" 2>/dev/null; then umount "$work/root/run/notify"; fi
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# --- 2. the archive -------------------------------------------------------------------------
field() { dpkg-deb --field "$deb" "$1"; }
[[ $(field Package) == sitebox ]] || fail "Package is $(field Package)"
[[ $(field Depends) == *adduser* && $(field Depends) == *libc6* ]] || fail "Depends: $(field Depends)"
pass "control: Package sitebox $(field Version), Depends: $(field Depends)"

listing=$(dpkg-deb --contents "$deb")
expect_entry() { # MODE PATH
  grep -Eq "^$1 (root/root|0/0) .* \./$2\$" <<<"$listing" || fail "no $1 ./$2 in the package:
$listing"
}
expect_entry '-rwxr-xr-x' usr/bin/siteboxd
expect_entry '-rw-r-----' etc/sitebox/sitebox.toml
unit_path=$(grep -Eo '\./(usr/)?lib/systemd/system/siteboxd\.service$' <<<"$listing") \
  || fail "no siteboxd.service in the package"
unit_path=${unit_path#./}
expect_entry '-rw-r--r--' "$unit_path"
expect_entry '-rw-r--r--' usr/share/doc/sitebox/OPERATIONS.md
expect_entry '-rw-r--r--' usr/share/doc/sitebox/examples/sitebox.example.toml
expect_entry '-rw-r--r--' usr/lib/sysctl.d/60-sitebox.conf
if grep -Eq '\./(var/lib/sitebox|etc/sitebox/secret\.key)' <<<"$listing"; then
  fail "state or the secret key must be made at install, not shipped"
fi
pass "contents: /usr/bin/siteboxd 0755, /etc/sitebox/sitebox.toml 0640, /$unit_path, sysctl.d"

control="$work/control"
dpkg-deb --control "$deb" "$control"
grep -qx /etc/sitebox/sitebox.toml "$control/conffiles" || fail "sitebox.toml is not a conffile"
grep -q 'adduser --system' "$control/postinst" || fail "postinst makes no system user"
grep -q 'secret.key' "$control/postinst" || fail "postinst makes no secret key"
grep -q 'deb-systemd-helper' "$control/postinst" || fail "postinst does not enable the unit"
grep -Eq 'deb-systemd-invoke (\$_dh_action|restart|try-restart)' "$control/postinst" \
  || fail "postinst does not restart the unit after an upgrade"
grep -q 'rm -rf /var/lib/sitebox' "$control/postrm" || fail "postrm purge keeps the state"
for script in postinst postrm prerm; do
  [[ -f $control/$script ]] || continue
  sh -n "$control/$script" || fail "$script does not parse"
  [[ $(stat -c %a "$control/$script") == 755 ]] || fail "$script is not 0755"
done
pass "control: conffiles, postinst (user, key, enable, restart on upgrade), postrm (purge)"

# --- 3. the unit ----------------------------------------------------------------------------
unpacked="$work/unpacked"
dpkg-deb -x "$deb" "$unpacked"
unit="$unpacked/$unit_path"
# What ships is what runs: the package is built without the simulator and the crash points.
for dev_only in simulate-router SITEBOX_SYNC_FAILPOINT; do
  ! grep -aq "$dev_only" "$unpacked/usr/bin/siteboxd" || fail "the packaged siteboxd contains $dev_only"
done
pass "binary: no RouterOS simulator, no failpoints"
# verify resolves ExecStart= on the host: point it at the unpacked binary.
sed "s|^ExecStart=/usr/bin/siteboxd|ExecStart=$unpacked/usr/bin/siteboxd|" "$unit" > "$work/siteboxd.service"
verify=$(systemd-analyze verify "$work/siteboxd.service" 2>&1) || fail "systemd-analyze verify:
$verify"
# verify also loads the host's other units (e.g. the freeradius package's, which the test
# setup installs): only what it says of ours counts.
ours=$(grep -F "siteboxd" <<<"$verify" || true)
[[ -z $ours ]] || fail "systemd-analyze verify complained:
$ours"
pass "systemd-analyze verify: clean"
# Exits that a restart cannot fix (bad config, damaged database, unwritable data directory)
# stop the unit instead of restarting it every RestartSec= forever.
grep -qx 'RestartPreventExitStatus=64 65 73' "$unit" \
  || fail "the unit does not keep from restarting on exits 64, 65 and 73"
pass "the unit does not restart on a bad config (64), a damaged database (65), an unwritable data dir (73)"
security=$(systemd-analyze security --offline=true --threshold=20 "$unit" 2>&1) \
  || fail "security exposure above 2.0:
$security"
score=$(grep -o 'Overall exposure level for siteboxd.service: .*' <<<"$security")
pass "systemd-analyze security --offline=true --threshold=20: $score"
"$unpacked/usr/bin/siteboxd" --config "$unpacked/etc/sitebox/sitebox.toml" check-config >/dev/null \
  || fail "the packaged config does not validate"
pass "the packaged config validates"

# --- 4. a fresh Debian root -----------------------------------------------------------------
base="$cache/$suite-minbase.tar"
if [[ ! -f $base ]]; then
  echo "tests/package.sh: debootstrap $suite (minbase) into the cache, once"
  mkdir -p "$cache"
  rm -rf "$cache/build"
  debootstrap --variant=minbase --include=adduser,init-system-helpers \
    "$suite" "$cache/build" "$mirror" >"$cache/debootstrap.log" 2>&1 \
    || fail "debootstrap failed, see $cache/debootstrap.log"
  tar -C "$cache/build" -cf "$base.new" .
  mv "$base.new" "$base"
  rm -rf "$cache/build"
fi
chroot_dir="$work/root"
mkdir -p "$chroot_dir"
tar -C "$chroot_dir" -xf "$base"
in_root() { chroot "$chroot_dir" "$@"; }
cp "$deb" "$chroot_dir/tmp/sitebox.deb"

in_root dpkg --install /tmp/sitebox.deb >"$work/install.log" 2>&1 \
  || fail "dpkg --install: $(cat "$work/install.log")"
pass "dpkg --install into a fresh $suite root"

owner_mode() { in_root stat -c '%U:%G %a' "$1"; }
expect_owner_mode() { # PATH "USER:GROUP MODE"
  local got
  got=$(owner_mode "$1") || fail "$1 is missing"
  [[ $got == "$2" ]] || fail "$1 is $got, expected $2"
}
in_root getent passwd sitebox >/dev/null || fail "no sitebox user"
shell=$(in_root getent passwd sitebox | cut -d: -f7)
[[ $shell == */nologin ]] || fail "sitebox's shell is $shell"
expect_owner_mode /var/lib/sitebox "sitebox:sitebox 750"
expect_owner_mode /etc/sitebox "root:sitebox 750"
expect_owner_mode /etc/sitebox/sitebox.toml "root:sitebox 640"
expect_owner_mode /etc/sitebox/secret.key "root:root 600"
expect_owner_mode /usr/bin/siteboxd "root:root 755"
grep -Eqx '[0-9a-f]{64}' "$chroot_dir/etc/sitebox/secret.key" || fail "the key is not 64 hex digits"
[[ -L $chroot_dir/etc/systemd/system/multi-user.target.wants/siteboxd.service ]] \
  || fail "siteboxd.service is not enabled"
pass "installed: user sitebox (nologin), /var/lib/sitebox 0750, config root:sitebox 0640, key 0600, unit enabled"
key_before=$(sha256sum "$chroot_dir/etc/sitebox/secret.key")

# The daemon, started as root in the root: it reads the root-only key (it needs it to start),
# switches to sitebox, says READY, serves a backup. RADIUS and the page on loopback, on free
# ports: this machine may be running other RADIUS or web servers. (The edit also shows that
# an upgrade keeps it.)
read -r auth_port acct_port web_port < <(python3 -c '
import socket
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
socks.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
sed -i -e "s|^auth_listen = .*|auth_listen = \"127.0.0.1:$auth_port\"|" \
  -e "s|^acct_listen = .*|acct_listen = \"127.0.0.1:$acct_port\"|" \
  -e "s|^listen = .*|listen = \"127.0.0.1:$web_port\"|" "$chroot_dir/etc/sitebox/sitebox.toml"
notify="$work/notify.sock"
python3 - "$notify" >"$work/notify.log" 2>&1 <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(60)
while True:
    message = s.recv(4096).decode()
    print(message, flush=True)
    if "STOPPING=1" in message:
        break
EOF
listener_pid=$!
for _ in $(seq 100); do [[ -S $notify ]] && break; sleep 0.05; done
# The daemon sends as sitebox: it must reach the socket.
chmod 0755 "$work"
chmod 0777 "$notify"
mkdir -p "$chroot_dir/run/notify"
mount --bind "$work" "$chroot_dir/run/notify"
chroot "$chroot_dir" env NOTIFY_SOCKET=/run/notify/notify.sock \
  /usr/bin/siteboxd --config /etc/sitebox/sitebox.toml run >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 300); do grep -q READY=1 "$work/notify.log" && break; sleep 0.1; done
grep -q READY=1 "$work/notify.log" || fail "no READY=1: $(cat "$work/daemon.log")"
daemon_uid=$(awk '/^Uid:/ {print $3}' "/proc/$daemon_pid/status")
[[ $daemon_uid == $(in_root id -u sitebox) ]] || fail "the daemon runs as uid $daemon_uid"
expect_owner_mode /var/lib/sitebox/sitebox.db "sitebox:sitebox 640"
in_root /usr/bin/siteboxd --config /etc/sitebox/sitebox.toml backup /root/site-backup.db \
  >"$work/backup.log" 2>&1 || fail "backup: $(cat "$work/backup.log")"
grep -q 'integrity ok' "$work/backup.log" || fail "backup: $(cat "$work/backup.log")"
kill -TERM "$daemon_pid"
wait "$daemon_pid" || fail "the daemon exited with $?: $(cat "$work/daemon.log")"
daemon_pid=
wait "$listener_pid" || true
listener_pid=
umount "$chroot_dir/run/notify"
grep -q STOPPING=1 "$work/notify.log" || fail "no STOPPING=1"
pass "run as root in the root: root-only key read, switched to sitebox, READY=1, database sitebox:sitebox 0640, backup while running, STOPPING=1 on SIGTERM"

# Reinstalling (the upgrade path) keeps the key and the data.
in_root dpkg --install /tmp/sitebox.deb >"$work/upgrade.log" 2>&1 \
  || fail "reinstall: $(cat "$work/upgrade.log")"
[[ $(sha256sum "$chroot_dir/etc/sitebox/secret.key") == "$key_before" ]] || fail "the key changed"
[[ -f $chroot_dir/var/lib/sitebox/sitebox.db ]] || fail "the reinstall lost the database"
grep -q "^auth_listen = \"127.0.0.1:$auth_port\"" "$chroot_dir/etc/sitebox/sitebox.toml" \
  || fail "the reinstall replaced the edited conffile"
expect_owner_mode /etc/sitebox/sitebox.toml "root:sitebox 640"
pass "reinstall/upgrade: key, database and the edited config kept"

in_root dpkg --remove sitebox >"$work/remove.log" 2>&1 || fail "remove: $(cat "$work/remove.log")"
[[ ! -e $chroot_dir/usr/bin/siteboxd ]] || fail "remove left the binary"
[[ -f $chroot_dir/var/lib/sitebox/sitebox.db ]] || fail "remove deleted the database"
[[ -f $chroot_dir/etc/sitebox/sitebox.toml && -f $chroot_dir/etc/sitebox/secret.key ]] \
  || fail "remove deleted the config or the key"
pass "dpkg --remove: binary gone; database, config and key kept"

in_root dpkg --purge sitebox >"$work/purge.log" 2>&1 || fail "purge: $(cat "$work/purge.log")"
[[ ! -e $chroot_dir/var/lib/sitebox ]] || fail "purge left /var/lib/sitebox"
[[ ! -e $chroot_dir/etc/sitebox ]] || fail "purge left /etc/sitebox: $(ls -la "$chroot_dir/etc/sitebox")"
[[ ! -e $chroot_dir/etc/systemd/system/multi-user.target.wants/siteboxd.service ]] \
  || fail "purge left the unit enabled"
pass "dpkg --purge: state, config, key and enablement gone"

echo "$passed passed, 0 failed"
