"""Drives sitebox-radius with pyrad (a real third-party RADIUS client).

Usage: radius_pyrad.py AUTH_PORT ACCT_PORT SECRET DICTIONARY
Prints one JSON object of observations; the Rust test asserts on them.
"""
import hashlib
import json
import socket
import sys

import pyrad.packet
from pyrad.client import Client, Timeout
from pyrad.dictionary import Dictionary

auth_port, acct_port = int(sys.argv[1]), int(sys.argv[2])
secret = sys.argv[3].encode()
dictionary = Dictionary(sys.argv[4])
client = Client(server="127.0.0.1", authport=auth_port, acctport=acct_port,
                secret=secret, dict=dictionary, retries=1, timeout=2, enforce_ma=True)
out = {}


def raw_exchange(sock, data, port):
    """Send bytes from `sock`, return the reply bytes or None."""
    sock.sendto(data, ("127.0.0.1", port))
    try:
        return sock.recv(4096)
    except socket.timeout:
        return None


def nas_socket():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(1.0)
    return sock


def decrypt_mppe(value, request_authenticator):
    """RFC 2548 section 2.4.2, the NAS side."""
    salt, cipher = value[:2], value[2:]
    plain, pad = b"", hashlib.md5(secret + request_authenticator + salt).digest()
    for i in range(0, len(cipher), 16):
        chunk = cipher[i:i + 16]
        plain += bytes(a ^ b for a, b in zip(chunk, pad))
        pad = hashlib.md5(secret + chunk).digest()
    return plain[1:1 + plain[0]]


# PAP, accepted, with reply attributes (enforce_ma: the reply must be signed).
req = client.CreateAuthPacket(User_Name="alice", Calling_Station_Id="AA:BB:CC:00:11:22")
req["User-Password"] = req.PwCrypt("hotspot-pass")
reply = client.SendPacket(req)
out["pap_code"] = reply.code
out["pap_session_timeout"] = reply["Session-Timeout"][0]
out["pap_rate_limit"] = reply["Mikrotik-Rate-Limit"][0]
out["pap_total_limit"] = reply["Mikrotik-Total-Limit"][0]
out["pap_total_limit_gigawords"] = reply["Mikrotik-Total-Limit-Gigawords"][0]
out["pap_reply_has_message_authenticator"] = 80 in reply.keys() or "Message-Authenticator" in reply

# PAP, wrong password.
req = client.CreateAuthPacket(User_Name="alice")
req["User-Password"] = req.PwCrypt("wrong")
reply = client.SendPacket(req)
out["wrong_code"] = reply.code
out["wrong_reply_message"] = reply["Reply-Message"][0]

# MS-CHAPv2 with the RFC 2759 section 9.2 exchange (user "User", password "clientPass").
auth_challenge = bytes.fromhex("5B5D7C7D7B3F2F3E3C2C602132262628")
peer_challenge = bytes.fromhex("21402324255E262A28295F2B3A337C7E")
nt_response = bytes.fromhex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")
req = client.CreateAuthPacket(User_Name="User", Service_Type="Framed-User", Framed_Protocol="PPP")
req["MS-CHAP-Challenge"] = auth_challenge
req["MS-CHAP2-Response"] = bytes([7, 0]) + peer_challenge + bytes(8) + nt_response
reply = client.SendPacket(req)
out["mschapv2_code"] = reply.code
out["mschapv2_success"] = reply["MS-CHAP2-Success"][0].hex()
out["mschapv2_send_key"] = decrypt_mppe(reply["MS-MPPE-Send-Key"][0], req.authenticator).hex()
out["mschapv2_recv_key"] = decrypt_mppe(reply["MS-MPPE-Recv-Key"][0], req.authenticator).hex()

# A retransmit (same bytes from the same port) gets the byte-identical reply. MS-CHAPv2 replies
# carry fresh MPPE salts, so identical bytes show the reply came from the cache.
req = client.CreateAuthPacket(User_Name="User")
req["MS-CHAP-Challenge"] = auth_challenge
req["MS-CHAP2-Response"] = bytes([8, 0]) + peer_challenge + bytes(8) + nt_response
data = req.RequestPacket()
with nas_socket() as sock:
    first = raw_exchange(sock, data, auth_port)
    second = raw_exchange(sock, data, auth_port)
out["retransmit_identical"] = first is not None and first == second

# Without Message-Authenticator: dropped, no reply at all.
req = client.CreateAuthPacket(User_Name="alice", message_authenticator=False)
req["User-Password"] = req.PwCrypt("hotspot-pass")
with nas_socket() as sock:
    out["unsigned_reply"] = raw_exchange(sock, req.RequestPacket(), auth_port) is not None

# Proxy-State echoed in order (pyrad also checks that no foreign Proxy-State comes back).
req = client.CreateAuthPacket(User_Name="alice")
req["User-Password"] = req.PwCrypt("hotspot-pass")
req["Proxy-State"] = [b"hop-one", b"hop-two"]
reply = client.SendPacket(req)
out["proxy_state"] = [v.decode() for v in reply["Proxy-State"]]

# Accounting Start, Interim-Update (gigawords), Stop.
for status, extra in (("Start", {}),
                      ("Interim-Update", {"Acct-Input-Octets": 100, "Acct-Input-Gigawords": 2,
                                          "Acct-Output-Octets": 5, "Acct-Session-Time": 60}),
                      ("Stop", {"Acct-Input-Octets": 200, "Acct-Input-Gigawords": 2,
                                "Acct-Output-Octets": 7, "Acct-Session-Time": 120,
                                "Acct-Terminate-Cause": "Session-Timeout"})):
    req = client.CreateAcctPacket(User_Name="alice", Acct_Session_Id="pyrad-0001",
                                  Calling_Station_Id="AA:BB:CC:00:11:22",
                                  Framed_IP_Address="10.5.50.2")
    req["Acct-Status-Type"] = status
    for key, value in extra.items():
        req[key] = value
    reply = client.SendPacket(req)
    out["acct_" + status] = reply.code

# Status-Server on the auth port.
req = client.CreateAuthPacket(code=pyrad.packet.StatusServer)
reply = client.SendPacket(req)
out["status_server_code"] = reply.code

print(json.dumps(out))
