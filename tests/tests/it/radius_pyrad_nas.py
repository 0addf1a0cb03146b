"""Plays a MikroTik's dynamic-authorization port (RFC 5176) with pyrad, to test Sitebox's
Disconnect/CoA client against a third-party implementation.

Usage: radius_pyrad_nas.py SECRET DICTIONARY
Prints the bound UDP port on the first line, then serves:
 1. a Disconnect-Request: ignores the first copy, answers the retransmit with Disconnect-NAK
    Error-Cause=503 (Session-Context-Not-Found);
 2. a CoA-Request: answers CoA-ACK.
Then prints one JSON object of observations.
"""
import json
import socket
import sys

import pyrad.packet
from pyrad.dictionary import Dictionary
from pyrad.packet import CoAPacket

secret = sys.argv[1].encode()
dictionary = Dictionary(sys.argv[2])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 0))
sock.settimeout(20)
print(sock.getsockname()[1], flush=True)
out = {}


def receive():
    data, peer = sock.recvfrom(4096)
    request = CoAPacket(packet=data, secret=secret, dict=dictionary)
    return data, peer, request


first, _, _ = receive()
second, peer, request = receive()
out["retransmit_identical"] = first == second
out["disconnect_code"] = request.code
out["disconnect_authenticator_ok"] = request.VerifyCoARequest()
out["disconnect_has_message_authenticator"] = request.message_authenticator is True
out["disconnect_message_authenticator_ok"] = request.verify_message_authenticator()
out["disconnect_user_name"] = request["User-Name"][0]
out["disconnect_session_id"] = request["Acct-Session-Id"][0]
reply = request.CreateReply(message_authenticator=True)
reply.code = pyrad.packet.DisconnectNAK
reply["Error-Cause"] = 503
sock.sendto(reply.ReplyPacket(), peer)

_, peer, request = receive()
out["coa_code"] = request.code
out["coa_authenticator_ok"] = request.VerifyCoARequest()
out["coa_message_authenticator_ok"] = request.verify_message_authenticator()
out["coa_rate_limit"] = request["Mikrotik-Rate-Limit"][0]
reply = request.CreateReply(message_authenticator=True)
sock.sendto(reply.ReplyPacket(), peer)

print(json.dumps(out), flush=True)
