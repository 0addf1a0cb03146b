"""Drives the real routeros-api client (tagged commands) against the RouterOS simulator and
prints what it saw as JSON. Usage: routeros_api_driver.py HOST PORT plain|challenge"""

import json
import sys

import routeros_api
from routeros_api.exceptions import RouterOsApiCommunicationError

host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
seen = {}

pool = routeros_api.RouterOsApiPool(
    host, username="admin", password="admin", port=port, plaintext_login=(mode == "plain")
)
api = pool.get_api()
seen["identity"] = api.get_resource("/system/identity").get()[0]["name"]

users = api.get_resource("/ip/hotspot/user")
users.add(name="erin", password="pw", comment="first")
users.add(name="frank", password="pw")
seen["query_rows"] = [{k: v for k, v in r.items() if k in ("name", "comment", "server")} for r in users.get(name="erin")]

try:
    users.add(name="erin")
    seen["duplicate"] = "accepted"
except RouterOsApiCommunicationError as error:
    seen["duplicate"] = error.original_message.decode()

# Several tagged commands in flight on one connection, answered out of call order.
queues = api.get_resource("/queue/simple")
pending = [
    users.call_async("print"),
    queues.call_async("add", {"name": "q1", "target": "10.0.0.1/32"}),
    api.get_resource("/interface").call_async("print"),
    users.call_async("print", queries={"name": "frank"}),
]
results = [list(p.get()) for p in reversed(pending)]
seen["tagged"] = {
    "frank": [r["name"] for r in results[0]],
    "interfaces": sorted(r["name"] for r in results[1]),
    "users": sorted(r["name"] for r in results[3]),
}

# A print that matches nothing (7.18+ answers !empty before !done).
seen["empty_print"] = list(users.get(name="nobody"))
seen["after_empty"] = [r["name"] for r in users.get(name="frank")]
pool.disconnect()
print(json.dumps(seen))
