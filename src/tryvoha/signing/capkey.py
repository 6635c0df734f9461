"""The key and certificate that sign CAP messages (XML-DSig, RSA-SHA256 as IPAWS uses).

Ed25519 has no place in the XML-DSig profiles CAP consumers verify, so CAP messages are signed
with an RSA key: a configured key and certificate (`--cap-key`, `--cap-cert`, e.g. issued by a
national CA), or a 3072-bit key with a self-signed certificate made on first start in the key
directory (`cap-signing.key`, mode 0600, and `cap-signing.crt`), which receivers pin.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tryvoha.signing.keys import KeyFileError, check_private_file, write_private

KEY_FILE = "cap-signing.key"
CERT_FILE = "cap-signing.crt"
RSA_BITS = 3072
CERT_LIFETIME = timedelta(days=730)
"""Two years: the longest key life Google Public Alerts accepts."""


@dataclass(frozen=True, slots=True)
class CapSigningKey:
    key_pem: bytes
    cert_pem: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the certificate (DER), hex: what a receiver pins."""
        return hashlib.sha256(self.certificate.public_bytes(serialization.Encoding.DER)).hexdigest()

    def doc(self) -> dict[str, str]:
        cert = self.certificate
        is_rsa = isinstance(cert.public_key(), rsa.RSAPublicKey)
        return {
            "algorithm": "RSA-SHA256" if is_rsa else "ECDSA-SHA256",
            "certificate": self.cert_pem.decode(),
            "sha256": self.fingerprint,
            "not_after": cert.not_valid_after_utc.isoformat().replace("+00:00", "Z"),
        }


def make_self_signed(hub_id: str, now: datetime | None = None) -> CapSigningKey:
    now = now or datetime.now(UTC)
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"{hub_id} CAP signing"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"tryvoha hub {hub_id}"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + CERT_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return CapSigningKey(key_pem, cert.public_bytes(serialization.Encoding.PEM))


def _check_pair(key_pem: bytes, cert_pem: bytes, where: str) -> CapSigningKey:
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
        cert = x509.load_pem_x509_certificate(cert_pem)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"CAP key or certificate in {where} is unreadable: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise KeyFileError(f"the CAP signing key in {where} must be RSA or ECDSA (P-256)")
    if isinstance(key, ec.EllipticCurvePrivateKey) and not isinstance(key.curve, ec.SECP256R1):
        raise KeyFileError(f"the CAP signing key in {where} must use the P-256 curve")
    own = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    certified = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if own != certified:
        raise KeyFileError(f"the CAP certificate in {where} is not for the CAP signing key")
    return CapSigningKey(key_pem, cert_pem)


class CapKeySource:
    """Loads the CAP key on first use (making one if needed): RSA key generation takes a
    moment, which a hub spends at start-up and a test only when it renders CAP."""

    def __init__(
        self,
        directory: Path,
        hub_id: str,
        key_path: Path | None = None,
        cert_path: Path | None = None,
    ) -> None:
        if (key_path is None) != (cert_path is None):
            raise KeyFileError("give both --cap-key and --cap-cert, or neither")
        self.directory = directory
        self.hub_id = hub_id
        self.key_path = key_path or directory / KEY_FILE
        self.cert_path = cert_path or directory / CERT_FILE
        self.configured = key_path is not None
        self._key: CapSigningKey | None = None
        self._lock = threading.Lock()

    def get(self) -> CapSigningKey:
        if self._key is None:
            with self._lock:
                if self._key is None:
                    self._key = self._load_or_make()
        return self._key

    def _load_or_make(self) -> CapSigningKey:
        if not self.key_path.exists():
            if self.configured:
                raise KeyFileError(f"CAP signing key {self.key_path} does not exist")
            made = make_self_signed(self.hub_id)
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                write_private(self.key_path, made.key_pem)
            except FileExistsError:
                pass  # made by another process meanwhile: load theirs below
            else:
                self.cert_path.write_bytes(made.cert_pem)
        check_private_file(self.key_path)
        try:
            key_pem, cert_pem = self.key_path.read_bytes(), self.cert_path.read_bytes()
        except OSError as exc:
            raise KeyFileError(f"CAP signing key or certificate unreadable: {exc}") from exc
        return _check_pair(key_pem, cert_pem, str(self.key_path.parent))
