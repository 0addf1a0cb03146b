"""Plays a MikroTik's dynamic-authorization port (RFC 5176) for the site scenario: checks every
Disconnect-Request's and CoA-Request's authenticators, answers Disconnect-ACK or CoA-ACK, and
prints one JSON line per request with the session it names (and a CoA's Mikrotik-Rate-Limit).

Usage: hotspot_nas.py SECRET DICTIONARY
Prints the bound UDP port on the first line. Runs until killed.
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
print(sock.getsockname()[1], flush=True)

while True:
    data, peer = sock.recvfrom(4096)
    request = CoAPacket(packet=data, secret=secret, dict=dictionary)
    valid = request.VerifyCoARequest() and request.verify_message_authenticator()
    print(json.dumps({
        "code": request.code,
        "valid": bool(valid),
        "user": request["User-Name"][0] if "User-Name" in request else None,
        "session": request["Acct-Session-Id"][0] if "Acct-Session-Id" in request else None,
        "rate": request["Mikrotik-Rate-Limit"][0] if "Mikrotik-Rate-Limit" in request else None,
    }), flush=True)
    if not valid:
        continue
    reply = request.CreateReply(message_authenticator=True)
    if request.code == pyrad.packet.CoARequest:
        reply.code = pyrad.packet.CoAACK
    else:
        reply.code = pyrad.packet.DisconnectACK
    sock.sendto(reply.ReplyPacket(), peer)
