#!/usr/bin/env bash
# Idle memory (RSS) of a release siteboxd, for docs/BENCHMARKS.md: on an empty database, then
# with 10,000 subscribers holding an active subscription each (written straight into the
# tables, as the daemon has no bulk import yet).
# Usage: packaging/footprint.sh [target/release/siteboxd]   (needs python3)
set -euo pipefail
bin=${1:-target/release/siteboxd}
dir=$(mktemp -d)
trap 'kill ${pid:-} 2>/dev/null || true; rm -rf "$dir"' EXIT
free_tcp_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
free_port() { python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cat > "$dir/sitebox.toml" <<TOML
[site]
tenant = "bench"
site = "bench-01"
[store]
data_dir = "$dir/data"
[secrets]
key_file = "$dir/secret.key"
create_if_missing = true
[radius]
auth_listen = "127.0.0.1:$(free_port)"
acct_listen = "127.0.0.1:$(free_port)"
[web]
listen = "127.0.0.1:$(free_tcp_port)"
# The sync agent runs, offline (nothing listens there), as on a box with a dead uplink.
[sync]
enabled = true
broker = "127.0.0.1:1"
TOML
rss() { awk '/^VmRSS|^VmHWM/ {printf "%s %s kB  ", $1, $2}' "/proc/$1/status"; echo; }
start() {
  rm -f "$dir/log"
  SITEBOX_ALLOW_ROOT=1 "$bin" --config "$dir/sitebox.toml" run >"$dir/log" 2>&1 &
  pid=$!
  until grep -qs "siteboxd running" "$dir/log"; do kill -0 $pid || { cat "$dir/log"; exit 1; }; sleep 0.1; done
  sleep 10
}
start
echo -n "empty database, idle 10 s: "; rss $pid
kill -TERM $pid; wait $pid
python3 - "$dir/data/sitebox.db" <<'PY'
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
now = 1_790_000_000_000
db.execute("INSERT INTO plans (name, kind, price, currency, validity_s, rate_limit, created_at, updated_at) VALUES ('daily', 'hotspot', 50, 'KES', 86400, '2M/2M', ?, ?)", (now, now))
for i in range(10_000):
    cur = db.execute("INSERT INTO subscribers (username, kind, password, phone, created_at, updated_at) VALUES (?, 'hotspot', ?, ?, ?, ?)",
                     (f"user{i:05}", os.urandom(56), f"2547{i:08}", now, now))
    db.execute("INSERT INTO subscriptions (subscriber_id, plan_id, state, source, starts_at, expires_at, created_at) VALUES (?, 1, 'active', 'cash', ?, ?, ?)",
               (cur.lastrowid, now, now + 86_400_000, now))
db.commit()
PY
echo "database: $(du -h "$dir/data/sitebox.db" | cut -f1)"
start
echo -n "10,000 subscribers + subscriptions, idle 10 s: "; rss $pid
kill -TERM $pid; wait $pid
