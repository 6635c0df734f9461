"""tryvoha.netstream, httpcore's streams on the event loop's own transports, on both loops the
hub runs on (uvloop in `tryvoha serve`, the standard loop elsewhere), against real sockets:
requests over plain TCP and TLS, a bounded read-ahead under a flooding peer, end of stream,
timeouts and refusals mapped to httpcore's exceptions with their causes kept."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpcore
import pytest
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tryvoha.netstream import READ_AHEAD, AsyncioBackend

from .conftest import free_port

Runner = Callable[[Awaitable[None]], None]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Runner:
    def runner(main: Awaitable[None]) -> None:
        if request.param == "uvloop":
            uvloop.run(main)  # type: ignore[arg-type]
        else:
            asyncio.run(main)  # type: ignore[arg-type]

    return runner


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A self-signed certificate for 127.0.0.1 and localhost: (certificate, key) files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    yield cert_file, key_file


async def http_server(tls: ssl.SSLContext | None = None) -> tuple[asyncio.Server, int, list[bytes]]:
    """Answers every request with 200 and its body back; what it received is kept."""
    received: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return  # the client closed the connection
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            body = await reader.readexactly(length)
            received.append(body)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=tls)
    return server, server.sockets[0].getsockname()[1], received


def test_requests_over_one_kept_connection(run: Runner) -> None:
    async def main() -> None:
        server, port, received = await http_server()
        async with httpcore.AsyncConnectionPool(network_backend=AsyncioBackend()) as pool:
            for n in range(3):
                body = b"x" * (10 + n * 100_000)  # the last one is larger than a socket buffer
                answer = await pool.request("POST", f"http://127.0.0.1:{port}/", content=body)
                assert answer.status == 200
                assert answer.content == body
            assert len(pool.connections) == 1
        assert [len(b) for b in received] == [10, 100_010, 200_010]
        server.close()

    run(main())


def test_tls_with_a_trusted_certificate_and_refused_with_an_untrusted_one(
    run: Runner, certificate: tuple[Path, Path]
) -> None:
    cert_file, key_file = certificate
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving.load_cert_chain(cert_file, key_file)

    async def main() -> None:
        server, port, received = await http_server(serving)
        trusting = ssl.create_default_context(cafile=str(cert_file))
        backend = AsyncioBackend()
        async with httpcore.AsyncConnectionPool(
            network_backend=backend, ssl_context=trusting
        ) as pool:
            answer = await pool.request("POST", f"https://localhost:{port}/", content=b"hello")
            assert (answer.status, answer.content) == (200, b"hello")
        async with httpcore.AsyncConnectionPool(
            network_backend=backend, ssl_context=ssl.create_default_context()
        ) as pool:
            with pytest.raises(httpcore.ConnectError) as refused:
                await pool.request("POST", f"https://localhost:{port}/", content=b"no")
        causes = []
        exc: BaseException | None = refused.value
        while exc is not None:
            causes.append(exc)
            exc = exc.__cause__ or exc.__context__
        assert any(isinstance(c, ssl.SSLCertVerificationError) for c in causes), causes
        assert received == [b"hello"]
        server.close()

    run(main())


def test_a_flooding_peer_is_read_only_as_far_as_the_read_ahead(run: Runner) -> None:
    size = 64 * READ_AHEAD  # more than the kernel's socket buffers on both ends hold
    payload = bytes(range(256)) * (size // 256)

    async def main() -> None:
        writers: list[asyncio.StreamWriter] = []

        async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)
            writer.write(payload)
            writer.write_eof()

        server = await asyncio.start_server(flood, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port)
        protocol = stream._protocol  # type: ignore[attr-defined]
        async with asyncio.timeout(30):
            while len(protocol.buffer) < READ_AHEAD:  # nobody reads the stream meanwhile
                await asyncio.sleep(0.01)
        for _ in range(100):  # loop turns: a transport still reading would take more
            await asyncio.sleep(0)
        assert READ_AHEAD <= len(protocol.buffer) < READ_AHEAD + 256 * 1024  # + one receive
        assert writers[0].transport.get_write_buffer_size() > 0  # the rest waits at the peer
        got = bytearray()
        while chunk := await stream.read(65536, timeout=30):
            got += chunk
        assert bytes(got) == payload  # all of it, in order, then the end of the stream
        assert stream.get_extra_info("is_readable")  # a pooled connection like it is dropped
        await stream.aclose()
        server.close()

    run(main())


def test_timeouts_and_refusals_are_httpcores_with_the_cause(run: Runner) -> None:
    async def main() -> None:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        backend = AsyncioBackend()
        stream = await backend.connect_tcp("127.0.0.1", port)
        assert stream.get_extra_info("is_readable") is False
        assert stream.get_extra_info("server_addr") == ("127.0.0.1", port)
        with pytest.raises(httpcore.ReadTimeout):
            await stream.read(100, timeout=0.05)
        await stream.aclose()
        server.close()
        with pytest.raises(httpcore.ConnectError) as refused:
            await backend.connect_tcp("127.0.0.1", free_port(), timeout=5)
        assert isinstance(refused.value.__cause__, ConnectionRefusedError)

    run(main())
