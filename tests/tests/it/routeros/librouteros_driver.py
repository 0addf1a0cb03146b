"""Drives the real librouteros client against the RouterOS simulator and prints what it saw as
JSON. Usage: librouteros_driver.py HOST PORT plain|token"""

import json
import sys

import librouteros
from librouteros import connect
from librouteros.exceptions import TrapError
from librouteros.login import plain, token
from librouteros.query import Key, Or

host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
seen = {"version": librouteros.__name__}

try:
    connect(host=host, port=port, username="admin", password="wrong", login_method=plain if mode == "plain" else token, timeout=5)
    seen["bad_login"] = "accepted"
except TrapError as error:
    seen["bad_login"] = error.message

api = connect(host=host, port=port, username="admin", password="admin", login_method=plain if mode == "plain" else token, timeout=5)
seen["identity"] = list(api("/system/identity/print"))[0]["name"]

users = api.path("ip", "hotspot", "user")
seen["added_ids"] = [users.add(name=name, password="pw", comment=f"user {name}") for name in ("alice", "bob", "carol")]

name, profile = Key("name"), Key("profile")
rows = list(users.select(name, profile).where(Or(name == "alice", name == "carol")))
seen["query_rows"] = sorted(rows, key=lambda r: r["name"])

try:
    users.add(name="alice")
    seen["duplicate"] = "accepted"
except TrapError as error:
    seen["duplicate"] = error.message

try:
    users.add(name="dave", profile="no-such-plan")
    seen["bad_profile"] = "accepted"
except TrapError as error:
    seen["bad_profile"] = error.message

# The connection must still work after traps.
seen["after_traps"] = sorted(r["name"] for r in users)
seen["empty_print"] = list(users.select(name).where(name == "nobody"))
seen["disabled"] = [r["disabled"] for r in users.select(Key("disabled")).where(name == "bob")]

bob_id = [r[".id"] for r in users if r["name"] == "bob"][0]
users.update(**{".id": bob_id, "comment": "changed"})
seen["updated_comment"] = [r["comment"] for r in users if r["name"] == "bob"][0]
users.remove(bob_id)
try:
    users.remove(bob_id)
    seen["remove_missing"] = "accepted"
except TrapError as error:
    seen["remove_missing"] = error.message

print(json.dumps(seen))
