"""Enveloped XML signatures on CAP messages, in the form IPAWS uses: exclusive canonicalisation,
RSA-SHA256 (or ECDSA-SHA256 with a P-256 key), a SHA-256 digest of the whole `<alert>` and the
signing certificate in `<KeyInfo>`. Receivers verify against the certificate they pinned (the hub
publishes it in `/.well-known/tryvoha-keys`), never against whatever certificate a message holds.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from signxml import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConfiguration,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
)
from signxml.exceptions import InvalidInput
from signxml.verifier import VerifyResult

from tryvoha.signing.capkey import CapSigningKey

C14N = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0
ACCEPTED = SignatureConfiguration(
    signature_methods=frozenset({SignatureMethod.RSA_SHA256, SignatureMethod.ECDSA_SHA256}),
    digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
    expect_references=1,
)


class CapSigner:
    """Signs `<alert>` elements with one key; the key is parsed once."""

    def __init__(self, key: CapSigningKey) -> None:
        self.key = key

    @cached_property
    def _private(self) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
        key = serialization.load_pem_private_key(self.key.key_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError("a CAP signing key is RSA or ECDSA P-256")
        return key

    @cached_property
    def _cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.key.cert_pem)

    def sign(self, root: etree._Element) -> bytes:
        """The signed document: UTF-8 with an XML declaration, the signature last in `<alert>`."""
        method = (
            SignatureMethod.RSA_SHA256
            if isinstance(self._private, rsa.RSAPrivateKey)
            else SignatureMethod.ECDSA_SHA256
        )
        signer = XMLSigner(
            signature_algorithm=method, digest_algorithm=DigestAlgorithm.SHA256, c14n_algorithm=C14N
        )
        signed = signer.sign(root, key=self._private, cert=[self._cert])
        return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


def verify(data: bytes, cert_pem: bytes | str, at: datetime | None = None) -> etree._Element:
    """The signed `<alert>` (only what the signature covers) if `data` is signed by the key of
    `cert_pem`; raises `signxml.exceptions.InvalidInput`/`InvalidSignature`/… otherwise.
    `at` checks the certificate's validity at another time (an archived message)."""
    pem = cert_pem.decode() if isinstance(cert_pem, bytes) else cert_pem
    config = ACCEPTED
    if at is not None:
        config = SignatureConfiguration(
            signature_methods=ACCEPTED.signature_methods,
            digest_algorithms=ACCEPTED.digest_algorithms,
            expect_references=1,
            verification_time=at,
        )
    result = XMLVerifier().verify(data, x509_cert=pem, expect_config=config)
    assert isinstance(result, VerifyResult)  # one, as `expect_references=1` requires
    if result.signed_xml is None:
        raise InvalidInput("the signed part of the message is not XML")
    return result.signed_xml
