"""A real loopback SMTP server (aiosmtpd) that records what it receives and fails on demand.

It runs aiosmtpd's threaded ``Controller`` on 127.0.0.1 with a port the kernel picks, so sync
tests, ``asyncio.run`` tests and the monitor's own event loop all talk to it over a real
socket. No test reaches the internet.

What a test can do::

    with SmtpServer() as server:                        # or ``smtp_server`` in test_email.py
        server.url()                                    # "smtp://127.0.0.1:PORT"
        server.messages()[-1].message["Subject"]        # parsed EmailMessage
        server.messages()[-1].mail_from, .rcpt_tos      # the envelope
        server.wait_for(3)                              # block until three have arrived
        server.refuse("nobody@example.org")             # 550 at RCPT for that address
        server.fail(421, times=2)                       # 421 at MAIL twice, then healthy
        server.fail(451, stage="DATA")                  # 451 after the message body
        server.recover()                                # drop every failure and refusal

    with SmtpServer(users={"alerts": "s3cret"}) as server:     # AUTH PLAIN/LOGIN required
        server.url(user="alerts")                              # "smtp://alerts@127.0.0.1:…"
        server.messages()[-1].login                            # "alerts"

    with SmtpServer(tls="starttls") as server:          # or "implicit" (smtps://)
        context = server.client_tls_context()           # trusts the test certificate

TLS uses a self-signed certificate for ``localhost`` and ``127.0.0.1`` made when the server
starts, with ``cryptography`` when it is installed, else the ``openssl`` command;
:func:`tls_unavailable` says why neither works, for a ``skipif``.
"""

from __future__ import annotations

import email
import email.policy
import importlib.util
import logging
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

TlsMode = Literal["none", "starttls", "implicit"]
Stage = Literal["MAIL", "RCPT", "DATA"]
SCHEMES: dict[TlsMode, str] = {"none": "smtp", "starttls": "smtp+starttls", "implicit": "smtps"}


@dataclass(frozen=True, slots=True)
class Received:
    """One accepted message: the envelope, the parsed message, who sent it and how."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes
    login: str | None  # the authenticated user, None without AUTH
    tls: bool  # whether the session was encrypted (STARTTLS or implicit)


@dataclass(slots=True)
class _Failure:
    code: int
    text: str
    stage: Stage
    remaining: int | None  # None: until recover()


@dataclass(slots=True)
class _State:
    received: list[Received] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # lower-case address -> reply
    failures: list[_Failure] = field(default_factory=list)
    auth_attempts: list[tuple[str, bool]] = field(default_factory=list)
    connections: int = 0


def tls_unavailable() -> str | None:
    """Why no test certificate can be made here, or ``None`` when one can."""
    if importlib.util.find_spec("cryptography") is None and shutil.which("openssl") is None:
        return "neither the cryptography package nor the openssl command is installed"
    return None


def unused_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on (just released by the kernel): connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for ``localhost`` and ``127.0.0.1``, valid a day."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        _certificate_with_cryptography(cert, key)
    except ImportError:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
    return cert, key


def _certificate_with_cryptography(cert: Path, key: Path) -> None:
    import datetime
    import ipaddress

    from cryptography import x509  # type: ignore[import-not-found,unused-ignore]
    from cryptography.hazmat.primitives import hashes, serialization  # type: ignore[import-not-found,unused-ignore]
    from cryptography.hazmat.primitives.asymmetric import ec  # type: ignore[import-not-found,unused-ignore]
    from cryptography.x509.oid import NameOID  # type: ignore[import-not-found,unused-ignore]

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    alt = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(alt, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


class _Controller(Controller):
    """aiosmtpd's controller on a socket bound before the loop starts, so port 0 works (the
    stock one would probe port 0 to see that the server is up)."""

    def __init__(self, handler: Any, sock: socket.socket, **kwargs: Any) -> None:
        host, port = sock.getsockname()[:2]
        super().__init__(handler, hostname=host, port=port, **kwargs)
        self._sock = sock

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


class _Handler:
    """aiosmtpd hooks, run in the server's thread; every shared state change holds the lock."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_MAIL(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.server.users and not session.authenticated:
            return "530 5.7.0 Authentication required"
        failure = self.server._take_failure("MAIL")
        if failure is not None:
            return failure
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        refusal = self.server._refusal(address)
        if refusal is not None:
            return refusal
        failure = self.server._take_failure("RCPT")
        if failure is not None:
            return failure
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        failure = self.server._take_failure("DATA")
        if failure is not None:
            return failure
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        transport = smtp.transport
        encrypted = session.ssl is not None or (
            transport is not None and transport.get_extra_info("sslcontext") is not None
        )
        login = session.auth_data if isinstance(session.auth_data, str) else None
        record = Received(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            message=message,
            raw=raw,
            login=login,
            tls=encrypted,
        )
        number = self.server._record(record)
        return f"250 2.0.0 OK queued as test-{number}"


class SmtpServer:
    """A recording SMTP server on 127.0.0.1; see the module docstring for what it can do."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        users: dict[str, str] | None = None,
        tls: TlsMode = "none",
    ) -> None:
        self.host = host
        self.users = dict(users or {})
        self.tls = tls
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._state = _State()
        self._controller: _Controller | None = None
        self._port: int | None = None
        self._certdir: tempfile.TemporaryDirectory[str] | None = None
        self._cert: Path | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind a free port, make the certificate if TLS is on, and serve from a thread."""
        # aiosmtpd logs a deprecation warning of its own on every successful AUTH.
        logging.getLogger("mail.log").setLevel(logging.ERROR)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        sock.listen(64)
        self._port = int(sock.getsockname()[1])
        kwargs: dict[str, Any] = {"authenticator": self._authenticate, "auth_require_tls": False}
        if self.tls != "none":
            server_context = self._server_context()
            if self.tls == "starttls":
                kwargs.update(tls_context=server_context, require_starttls=True)
            else:
                kwargs["ssl_context"] = server_context
        self._controller = _Controller(_Handler(self), sock, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._certdir is not None:
            self._certdir.cleanup()
            self._certdir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _server_context(self) -> ssl.SSLContext:
        self._certdir = tempfile.TemporaryDirectory(prefix="smtp-test-cert-")
        self._cert, key = make_certificate(Path(self._certdir.name))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self._cert, key)
        return context

    # -- addresses ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the SMTP server is not started")
        return self._port

    def url(self, user: str | None = None) -> str:
        """The ``smtp_url`` a notifier uses: the scheme follows the TLS mode."""
        login = f"{user}@" if user else ""
        return f"{SCHEMES[self.tls]}://{login}{self.host}:{self.port}"

    def client_tls_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's certificate (and verifies it)."""
        if self._cert is None:
            raise RuntimeError("the SMTP server has no TLS certificate (tls='none')")
        return ssl.create_default_context(cafile=str(self._cert))

    # -- what was received -------------------------------------------------------------------

    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._state.received)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Block until at least ``count`` messages arrived; ``TimeoutError`` otherwise."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self._state.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{len(self._state.received)} of {count} messages after {timeout}s"
                    )
                self._arrived.wait(left)
            return list(self._state.received)

    @property
    def auth_attempts(self) -> list[tuple[str, bool]]:
        """``(user, succeeded)`` of every AUTH, in order; never a password."""
        with self._lock:
            return list(self._state.auth_attempts)

    # -- misbehaviour ----------------------------------------------------------------------

    def refuse(
        self, address: str, code: int = 550, text: str = "5.1.1 Mailbox unavailable"
    ) -> None:
        """Refuse ``address`` at RCPT TO with ``code`` until :meth:`recover`."""
        with self._lock:
            self._state.refused[address.lower()] = f"{code} {text}"

    def fail(
        self,
        code: int = 421,
        text: str | None = None,
        *,
        stage: Stage = "MAIL",
        times: int | None = 1,
    ) -> None:
        """Answer ``code`` to the next ``times`` commands at ``stage`` (None: until
        :meth:`recover`); RCPT counts once per recipient."""
        reply = text or ("4.3.2 Service shutting down" if code == 421 else "4.3.0 Try again later")
        with self._lock:
            self._state.failures.append(_Failure(code, reply, stage, times))

    def recover(self) -> None:
        """Forget every failure and refusal."""
        with self._lock:
            self._state.failures.clear()
            self._state.refused.clear()

    # -- called from the server's thread ---------------------------------------------------

    def _take_failure(self, stage: Stage) -> str | None:
        with self._lock:
            for failure in self._state.failures:
                if failure.stage == stage and failure.remaining != 0:
                    if failure.remaining is not None:
                        failure.remaining -= 1
                    return f"{failure.code} {failure.text}"
        return None

    def _refusal(self, address: str) -> str | None:
        with self._lock:
            return self._state.refused.get(address.lower())

    def _record(self, record: Received) -> int:
        with self._arrived:
            self._state.received.append(record)
            self._arrived.notify_all()
            return len(self._state.received)

    def _authenticate(
        self, smtp: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = data.login.decode("utf-8", "replace")
        ok = user in self.users and self.users[user] == data.password.decode("utf-8", "replace")
        with self._lock:
            self._state.auth_attempts.append((user, ok))
        return AuthResult(success=ok, handled=False, auth_data=user if ok else None)


__all__ = ["Received", "SmtpServer", "make_certificate", "tls_unavailable", "unused_port"]
