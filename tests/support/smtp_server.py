"""A mail server for tests/notify.rs (aiosmtpd, Debian's python3-aiosmtpd): STARTTLS or TLS
from the first byte with the given certificate, AUTH (PLAIN, LOGIN) inside TLS checked against one user and password, every message received
appended to a JSON-lines file (envelope, subject, body). It prints "ready" (standard error)
once listening.

    /usr/bin/python3 tests/support/smtp_server.py PORT MODE CERT KEY USER PASSWORD OUT
    MODE: starttls | implicit
"""
import asyncio
import email
import json
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, mode, cert, key, user, password, out = sys.argv[1:8]
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user and auth_data.password.decode() == password
    # handled=False: aiosmtpd then answers 535 itself (by default it leaves the answer to us)
    return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)


class Keep:
    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content)
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "subject": message["Subject"],
            "body": message.get_payload(decode=True).decode(),
            "tls": session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
            "login": session.auth_data.decode() if isinstance(session.auth_data, bytes) else None,
        }
        with open(out, "a") as f:
            f.write(json.dumps(record) + "\n")
        return "250 OK"


kwargs = dict(hostname="127.0.0.1", port=int(port), authenticator=authenticate)
if mode == "implicit":
    # TLS from the first byte: aiosmtpd's auth_require_tls looks for STARTTLS only
    controller = Controller(Keep(), ssl_context=context, auth_require_tls=False, **kwargs)
else:
    controller = Controller(Keep(), tls_context=context, require_starttls=True, auth_require_tls=True, **kwargs)
controller.start()
print("ready", file=sys.stderr, flush=True)
try:
    asyncio.new_event_loop().run_forever()
finally:
    controller.stop()
