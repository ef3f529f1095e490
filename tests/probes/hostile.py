"""Small loopback servers that misbehave in one way each, for the probes'
safety tests. Every loop is bounded; every server stops with its context."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import json
import socket
import ssl
import tempfile
from asyncio import StreamReader as Reader
from asyncio import StreamWriter as Writer
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.server import ServerConnection, serve

GiB = 1024**3


@dataclass
class Served:
    url: str
    sent: int = 0  # bytes the handler wrote (for "never buffered" assertions)


Handler = Callable[[Reader, Writer, Served], Awaitable[None]]


async def _read_request(reader: Reader) -> bytes:
    with contextlib.suppress(asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return b""


@contextlib.asynccontextmanager
async def tcp_server(
    handler: Handler,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[Served]:
    served = Served(url="")
    tasks: set[asyncio.Task[None]] = set()

    async def on_connect(reader: Reader, writer: Writer) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer, served)
        except (ConnectionError, asyncio.CancelledError, ssl.SSLError):
            pass
        finally:
            writer.close()
            tasks.discard(task)

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0, ssl=ssl_context)
    port = server.sockets[0].getsockname()[1]
    served.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
    try:
        yield served
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2)


def respond(
    status: str, body: bytes, headers: str = "Content-Type: application/json\r\n"
) -> Handler:
    async def handler(reader: Reader, writer: Writer, s: Served) -> None:
        await _read_request(reader)
        head = f"HTTP/1.1 {status}\r\n{headers}Content-Length: {len(body)}\r\n\r\n"
        writer.write(head.encode() + body)
        await writer.drain()

    return handler


async def garbage(reader: Reader, writer: Writer, s: Served) -> None:
    await _read_request(reader)
    writer.write(b"\x00\xff\xfe\x13garbage \xde\xad\xbe\xef\r\n\r\n")
    await writer.drain()


async def endless_body(reader: Reader, writer: Writer, s: Served) -> None:
    """Announces 1 GiB of JSON and streams it until the client hangs up."""
    await _read_request(reader)
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {GiB}\r\n\r\n"
    writer.write(head.encode())
    chunk = b'{"status": "healthy", "pad": "' + b"x" * 65_000
    while s.sent < GiB and not writer.is_closing():
        writer.write(chunk)
        s.sent += len(chunk)
        await writer.drain()


async def endless_chunked(reader: Reader, writer: Writer, s: Served) -> None:
    """A chunked stream with no end (bounded at 1 GiB so the test cannot hang)."""
    await _read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    payload = b"y" * 32_000
    chunk = f"{len(payload):x}\r\n".encode() + payload + b"\r\n"
    while s.sent < GiB and not writer.is_closing():
        writer.write(chunk)
        s.sent += len(chunk)
        await writer.drain()


async def slow_drip(reader: Reader, writer: Writer, s: Served) -> None:
    """Valid headers, then a body byte every 100ms: never silent long enough for a read timeout."""
    await _read_request(reader)
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    for _ in range(1000):
        writer.write(b" ")
        s.sent += 1
        await writer.drain()
        await asyncio.sleep(0.1)


async def plain_http(reader: Reader, writer: Writer, s: Served) -> None:
    """Like a plain HTTP server: answers whatever arrives first (a TLS hello too) with 400."""
    await asyncio.wait_for(reader.read(1024), 5)
    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    await writer.drain()


async def silent(reader: Reader, writer: Writer, s: Served) -> None:
    await _read_request(reader)
    await asyncio.sleep(60)


def redirect_to(location: str) -> Handler:
    return respond("302 Found", b"", headers=f"Location: {location}\r\n")


def health_then(path: str, body: dict[str, object]) -> Handler:
    """Redirects /health to `path` on the same origin, where it answers 200 `body`."""
    payload = json.dumps(body).encode()

    async def handler(reader: Reader, writer: Writer, s: Served) -> None:
        request = await _read_request(reader)
        if request.split(b" ")[1:2] == [path.encode()]:
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(payload)}\r\n\r\n"
            writer.write(head.encode() + payload)
        else:
            writer.write(
                f"HTTP/1.1 301 Moved\r\nLocation: {path}\r\nContent-Length: 0\r\n\r\n".encode()
            )
        await writer.drain()

    return handler


def closed_port() -> int:
    """A loopback port with (almost certainly) nothing listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------- TLS


def self_signed_context() -> ssl.SSLContext:
    """A server context with a fresh self-signed cert no client trusts."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:
        cert_path, key_path = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context.load_cert_chain(cert_path, key_path)
    return context


# ----------------------------------------------------------- WebSocket


WSHandler = Callable[[ServerConnection], Awaitable[None]]


@contextlib.asynccontextmanager
async def ws_server(handler: WSHandler) -> AsyncIterator[str]:
    async def guarded(connection: ServerConnection) -> None:
        """Ends as soon as the client goes away, so the server closes promptly."""
        task: asyncio.Task[None] = asyncio.ensure_future(handler(connection))
        closed = asyncio.create_task(connection.wait_closed())
        await asyncio.wait({task, closed}, return_when=asyncio.FIRST_COMPLETED)
        for pending in (task, closed):
            pending.cancel()
        await asyncio.gather(task, closed, return_exceptions=True)

    async with serve(
        guarded, "127.0.0.1", 0, max_size=None, compression=None, close_timeout=0.5
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"http://127.0.0.1:{port}"


async def ws_noise_forever(connection: ServerConnection) -> None:
    await connection.recv()
    for i in range(100_000):
        await connection.send(json.dumps({"type": "noise", "seq": i}))
        await asyncio.sleep(0)  # a server in its own process would not starve the probe


async def ws_huge_message(connection: ServerConnection) -> None:
    await connection.recv()
    await connection.send(json.dumps({"type": "agent_started", "pad": "z" * (4 * 1024 * 1024)}))
    await asyncio.sleep(5)


async def ws_not_json(connection: ServerConnection) -> None:
    await connection.recv()
    await connection.send("\x00 this is { not json")
    await asyncio.sleep(5)


async def ws_mute(connection: ServerConnection) -> None:
    await connection.recv()
    await asyncio.sleep(60)
