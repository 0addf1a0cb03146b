"""A RADIUS server in pyrad (third-party code) that the simulated MikroTik logs in against, to
check independently that the packets the simulator sends are well formed.

Usage: router_pyrad.py SECRET DICTIONARY USER PASSWORD
Prints "AUTH_PORT ACCT_PORT" on the first line, then one JSON object per request received:
its code, whether its authenticators verify (pyrad's own checks), whether a CHAP or PAP proof
matches PASSWORD, and every attribute by name. Access-Requests for USER with a good proof (or an
MS-CHAPv2 response, which pyrad cannot check) get an Access-Accept signed with a
Message-Authenticator; others an Access-Reject. Accounting-Requests that verify are answered.
Runs until killed.
"""
import json
import select
import socket
import sys

import pyrad.packet
from pyrad.dictionary import Dictionary
from pyrad.packet import AcctPacket, AuthPacket

secret = sys.argv[1].encode()
dictionary = Dictionary(sys.argv[2])
user, password = sys.argv[3], sys.argv[4].encode()

auth = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
auth.bind(("127.0.0.1", 0))
acct = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
acct.bind(("127.0.0.1", 0))
print(auth.getsockname()[1], acct.getsockname()[1], flush=True)


def text(value):
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def attributes(packet):
    out = {}
    for key in packet.keys():
        name = key if isinstance(key, str) else str(key)
        out[name] = [text(v) for v in packet[key]]
    return out


while True:
    ready, _, _ = select.select([auth, acct], [], [])
    for sock in ready:
        data, peer = sock.recvfrom(4096)
        seen = {"port": "auth" if sock is auth else "acct"}
        if sock is auth:
            request = AuthPacket(packet=data, secret=secret, dict=dictionary)
            seen["code"] = request.code
            seen["message_authenticator"] = request.message_authenticator is True
            seen["message_authenticator_ok"] = bool(request.verify_message_authenticator())
            proof = False
            if "CHAP-Password" in request:
                seen["method"] = "chap"
                proof = request.VerifyChapPasswd(password)
            elif "User-Password" in request:
                seen["method"] = "pap"
                proof = request.PwDecrypt(request["User-Password"][0]).encode() == password
            elif "MS-CHAP2-Response" in request:
                seen["method"] = "mschapv2"
                proof = True
            seen["proof_ok"] = bool(proof)
            seen["attributes"] = attributes(request)
            reply = request.CreateReply()
            if request["User-Name"][0] == user and proof:
                reply.code = pyrad.packet.AccessAccept
                reply["Session-Timeout"] = 120
                reply["Mikrotik-Rate-Limit"] = "3M/6M"
            else:
                reply.code = pyrad.packet.AccessReject
                reply["Reply-Message"] = "pyrad says no"
            # CreateReply signs an Access-Accept/Reject with a Message-Authenticator.
            sock.sendto(reply.ReplyPacket(), peer)
        else:
            request = AcctPacket(packet=data, secret=secret, dict=dictionary)
            seen["code"] = request.code
            seen["authenticator_ok"] = bool(request.VerifyAcctRequest())
            seen["message_authenticator"] = "Message-Authenticator" in request
            seen["attributes"] = attributes(request)
            if seen["authenticator_ok"]:
                sock.sendto(request.CreateReply().ReplyPacket(), peer)
        print(json.dumps(seen), flush=True)
