"""CAP 1.2: every event a valid, signed message; the HTTP documents and Atom feeds; the keys."""

from __future__ import annotations

import hashlib
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import xmlschema
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree
from shapely.geometry import Polygon
from signxml.exceptions import InvalidDigest, InvalidInput, InvalidSignature

from tryvoha.alerts.commands import Actor, AlertRef, Approve, Declare, End, Retract, Update
from tryvoha.alerts.model import AlertStatus, Detail, EventKind, Threat
from tryvoha.api.app import create_app
from tryvoha.channels.cap import schema, xmlsig
from tryvoha.channels.cap.feeds import MAX_FEED_BYTES
from tryvoha.channels.cap.message import NS, cap_time
from tryvoha.config import Settings
from tryvoha.hub import Hub, Outcome
from tryvoha.regions import Catalogue, Level
from tryvoha.signing.capkey import make_self_signed
from tryvoha.signing.keys import KeyFileError, write_private

SHARED_CAP = next(
    p / "shared" / "data" / "cap"
    for p in Path(__file__).resolve().parents
    if (p / "shared" / "data" / "cap").is_dir()
)
XSD = SHARED_CAP / "CAP-v1.2.xsd"
EXAMPLES = SHARED_CAP / "examples"
ATOM = "{http://www.w3.org/2005/Atom}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"
C = f"{{{NS}}}"
ACTOR = Actor("token:kyiv-dispatch")
SECOND = Actor("token:national-duty")


@pytest.fixture(scope="session")
def oasis() -> xmlschema.XMLSchema:
    """The schema from the shared data, read by a second validator (pure Python, with XML-DSig)."""
    return xmlschema.XMLSchema(str(XSD))


def valid(data: bytes, oasis: xmlschema.XMLSchema) -> etree._Element:
    root = etree.fromstring(data)
    schema.validate(root)  # lxml / libxml2 with the package's copy
    oasis.validate(data.decode())  # xmlschema with the shared original: raises if invalid
    return root


def text(root: etree._Element, path: str) -> str:
    found = root.findtext(path.replace("c:", C))
    assert found is not None, path
    return found


async def get_cap(client: httpx.AsyncClient, log_id: int, oasis) -> tuple[bytes, etree._Element]:
    r = await client.get(f"/api/v1/cap/{log_id}.xml")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/cap+xml"
    return r.content, valid(r.content, oasis)


async def published_cert(client: httpx.AsyncClient) -> str:
    return (await client.get("/.well-known/tryvoha-keys")).json()["cap"]["certificate"]


def test_the_packaged_schema_is_the_oasis_one() -> None:
    assert schema.XSD.read_bytes() == XSD.read_bytes()
    digest = hashlib.sha256(schema.XSD.read_bytes()).hexdigest()
    assert digest == "b7798ef25868b068c97b268bda02d067c7d4ba9373adc5638bf37105804ee723"


def test_cap_times_are_kyiv_time_with_the_true_offset() -> None:
    assert (
        cap_time(datetime(2023, 3, 9, 1, 0, 5, 999999, tzinfo=UTC)) == "2023-03-09T03:00:05+02:00"
    )
    assert cap_time(datetime(2023, 7, 1, 0, 0, tzinfo=UTC)) == "2023-07-01T03:00:00+03:00"


# Messages -------------------------------------------------------------------------------------


async def test_an_alert_life_is_a_chain_of_valid_signed_messages(
    client: httpx.AsyncClient, hub: Hub, catalogue: Catalogue, oasis
) -> None:
    oblast = catalogue.resolve("Kyivska oblast")
    declared = await hub.submit(
        Declare(oblast.id, Threat.AIR_RAID, details=(Detail.DRONES,), notes="з півночі"), ACTOR
    )
    ref = AlertRef(alert_id=declared.event.id)
    updated = await hub.submit(Update(ref, details=(Detail.BALLISTIC_MISSILE,)), ACTOR)
    ended = await hub.submit(End(ref), ACTOR)
    events = [declared.event, updated.event, ended.event]
    docs = [await get_cap(client, e.id, oasis) for e in events]
    hub_id = (await client.get("/.well-known/tryvoha-keys")).json()["hub"]
    sent = []
    for event, (_, root) in zip(events, docs, strict=True):
        assert text(root, "c:identifier") == f"urn:tryvoha:{hub_id}:event:{event.id}"
        assert text(root, "c:sender") == hub_id
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", text(root, "c:sent"))
        assert text(root, "c:sent") == cap_time(event.recorded_at)
        assert text(root, "c:status") == "Actual" and text(root, "c:scope") == "Public"
        assert text(root, "c:incidents") == f"urn:tryvoha:{hub_id}:alert:{declared.event.id}"
        assert [i.findtext(f"{C}language") for i in root.iter(f"{C}info")] == ["uk-UA", "en-US"]
        sent.append(text(root, "c:sent"))
    kinds = [
        (
            text(r, "c:msgType"),
            text(r, "c:info/c:responseType"),
            text(r, "c:info/c:urgency"),
            text(r, "c:info/c:severity"),
        )
        for _, r in docs
    ]
    assert kinds == [
        ("Alert", "Shelter", "Immediate", "Severe"),
        ("Update", "Shelter", "Immediate", "Severe"),
        ("Update", "AllClear", "Past", "Minor"),
    ]
    # Each message supersedes every earlier one: sender,identifier,sent copied verbatim.
    assert docs[0][1].find(f"{C}references") is None
    triplet = [
        f"{hub_id},urn:tryvoha:{hub_id}:event:{e.id},{s}" for e, s in zip(events, sent, strict=True)
    ]
    assert text(docs[1][1], "c:references") == triplet[0]
    assert text(docs[2][1], "c:references") == " ".join(triplet[:2])
    uk, en = docs[0][1].findall(f"{C}info")
    assert text(uk, "c:event") == "Повітряна тривога" and text(en, "c:event") == "Air raid alert"
    assert text(uk, "c:headline") == "Повітряна тривога: Київська область"
    assert "ударні БпЛА" in text(uk, "c:description") and "з півночі" in text(uk, "c:description")
    assert "укриття" in text(uk, "c:instruction") and "shelter" in text(en, "c:instruction")
    assert text(docs[2][1], "c:info/c:instruction").startswith("Відбій тривоги")
    assert (
        text(uk, "c:onset")
        == text(docs[2][1], "c:info/c:onset")
        == cap_time(declared.event.occurred_at)
    )
    assert text(docs[1][1], "c:info/c:parameter[c:valueName='tryvoha:details']/c:value") == (
        "ballistic_missile"
    )


async def declared(hub: Hub, command: Declare) -> Outcome:
    """Declared: by a second operator's approval when the command waits as a proposal (the
    whole country, nuclear and chemical alerts)."""
    outcome = await hub.submit(command, ACTOR)
    if outcome.event is not None and outcome.event.kind is EventKind.PROPOSED:
        outcome = await hub.submit(Approve(outcome.event.proposal_id), SECOND)
    return outcome


async def test_the_area_names_outlines_and_codes_the_region(
    client: httpx.AsyncClient, hub: Hub, catalogue: Catalogue, oasis
) -> None:
    cases = [
        catalogue.resolve("Kyivska oblast"),
        next(r for r in catalogue if r.level is Level.HROMADA and r.ukrainealarm_id),
        next(r for r in catalogue if r.level is Level.RAION),
        catalogue.country,
    ]
    for region in cases:
        outcome = await declared(hub, Declare(region.id, Threat.ARTILLERY_SHELLING))
        _, root = await get_cap(client, outcome.event.id, oasis)
        uk_area, en_area = root.findall(f"{C}info/{C}area")
        assert text(uk_area, "c:areaDesc").startswith(region.label("uk"))
        assert text(en_area, "c:areaDesc").startswith(region.label("en"))
        if region.level is Level.HROMADA:
            parents = [a.label("uk") for a in catalogue.ancestors(region.id)][:-1]
            assert text(uk_area, "c:areaDesc").endswith(", ".join(parents))
        codes = {
            g.findtext(f"{C}valueName"): g.findtext(f"{C}value")
            for g in uk_area.findall(f"{C}geocode")
        }
        if region.katottg:
            assert codes["KATOTTG"] == region.katottg
        if region.ukrainealarm_id:
            assert codes["ukrainealarm"] == region.ukrainealarm_id
        if region.alerts_in_ua_uid is not None:
            assert codes["alerts.in.ua"] == str(region.alerts_in_ua_uid)
        polygons = [p.text for p in uk_area.findall(f"{C}polygon")]
        assert polygons and sum(len(p.split()) for p in polygons) <= 100
        rings = []
        for polygon in polygons:
            pairs = [tuple(map(float, pair.split(","))) for pair in polygon.split()]
            assert len(pairs) >= 4 and pairs[0] == pairs[-1]  # closed, at least 4 pairs
            assert all(44 < lat < 53 and 22 < lon < 41.5 for lat, lon in pairs)  # lat,lon order
            rings.append(Polygon([(lon, lat) for lat, lon in pairs]))
        boundary = catalogue.boundary(region.id)
        largest = max(boundary.geoms, key=lambda g: g.area)
        assert any(r.contains(largest.representative_point()) for r in rings)
        covered = sum(largest.intersection(r).area for r in rings) / largest.area
        assert covered > 0.999  # grown before simplifying: the outline holds the region
        await hub.submit(End(AlertRef(alert_id=outcome.event.id)), ACTOR)


async def test_each_threat_says_what_to_do_and_drills_say_they_are_drills(
    client: httpx.AsyncClient, hub: Hub, catalogue: Catalogue, oasis
) -> None:
    region = catalogue.oblasts[5].id
    instructions = set()
    for threat in Threat:
        outcome = await declared(hub, Declare(region, threat))
        _, root = await get_cap(client, outcome.event.id, oasis)
        instructions.add(text(root, "c:info/c:instruction"))
        categories = [c.text for c in root.find(f"{C}info").findall(f"{C}category")]
        assert ("CBRNE" in categories) == (threat in (Threat.CHEMICAL, Threat.NUCLEAR))
    assert len(instructions) == len(Threat)
    for status, word in ((AlertStatus.EXERCISE, "Exercise"), (AlertStatus.TEST, "Test")):
        outcome = await hub.submit(Declare(region, Threat.AIR_RAID, status=status), ACTOR)
        _, root = await get_cap(client, outcome.event.id, oasis)
        assert text(root, "c:status") == word and "не справжня" in text(root, "c:note")
        assert text(root, "c:info/c:headline").startswith(("НАВЧАННЯ", "ТЕСТ"))


async def test_a_retraction_is_a_cancel(
    client: httpx.AsyncClient, hub: Hub, catalogue: Catalogue, oasis
) -> None:
    """An alert withdrawn as issued in error: a CAP Cancel referencing every earlier message."""
    declared = await hub.submit(Declare(catalogue.oblasts[2].id, Threat.AIR_RAID), ACTOR)
    updated = await hub.submit(
        Update(AlertRef(alert_id=declared.event.id), notes="уточнення"), ACTOR
    )
    retracted = await hub.submit(
        Retract(AlertRef(alert_id=declared.event.id), "declared in error"), ACTOR
    )
    _, root = await get_cap(client, retracted.event.id, oasis)
    assert text(root, "c:msgType") == "Cancel"
    references = text(root, "c:references")
    assert (
        f"event:{declared.event.id}," in references and f"event:{updated.event.id}," in references
    )
    assert text(root, "c:info/c:urgency") == "Past"
    assert text(root, "c:info/c:responseType") == "None"
    assert text(root, "c:info/c:headline").startswith("Скасовано")


# XML signatures -------------------------------------------------------------------------------


async def test_messages_carry_an_ipaws_form_signature_that_verifies_only_as_sent(
    client: httpx.AsyncClient, hub: Hub, catalogue: Catalogue, oasis
) -> None:
    outcome = await hub.submit(Declare(catalogue.oblasts[1].id, Threat.AIR_RAID), ACTOR)
    data, root = await get_cap(client, outcome.event.id, oasis)
    signature = root[-1]
    assert signature.tag == f"{DS}Signature"
    algorithms = {
        e.tag.split("}")[1]: e.get("Algorithm") for e in signature.iter() if e.get("Algorithm")
    }
    assert algorithms["CanonicalizationMethod"] == "http://www.w3.org/2001/10/xml-exc-c14n#"
    assert algorithms["SignatureMethod"] == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    assert algorithms["DigestMethod"] == "http://www.w3.org/2001/04/xmlenc#sha256"
    transforms = [t.get("Algorithm") for t in signature.iter(f"{DS}Transform")]
    assert "http://www.w3.org/2000/09/xmldsig#enveloped-signature" in transforms
    assert signature.find(f".//{DS}X509Certificate") is not None
    assert signature.find(f"{DS}SignedInfo/{DS}Reference").get("URI") == ""

    cert = await published_cert(client)
    signed = xmlsig.verify(data, cert)
    assert signed.findtext(f"{C}identifier") == text(root, "c:identifier")

    altered = data.replace("Повітряна тривога".encode(), "Відбій тривоги".encode(), 1)
    with pytest.raises(InvalidDigest):
        xmlsig.verify(altered, cert)
    # Valid signatures, but not by the pinned certificate.
    stranger = xmlsig.CapSigner(make_self_signed("someone-else")).sign(_strip(data))
    with pytest.raises(InvalidSignature):
        xmlsig.verify(stranger, cert)
    with pytest.raises(InvalidInput):  # an ECDSA signature where the pinned key is RSA
        xmlsig.verify(xmlsig.CapSigner(_ec_key()).sign(_strip(data)), cert)


def _strip(data: bytes) -> etree._Element:
    root = etree.fromstring(data)
    root.remove(root[-1])
    return root


def _ec_key():
    from tryvoha.signing.capkey import CapSigningKey, _check_pair

    key = ec.generate_private_key(ec.SECP256R1())
    cert = _self_signed(key)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pair = _check_pair(pem, cert, "test")
    assert isinstance(pair, CapSigningKey)
    return pair


def _self_signed(key) -> bytes:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "someone else")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize(
    ("name", "at"),
    [
        ("ipaws-2019-04-19-nevada-cancel-signed.xml", datetime(2019, 4, 20, tzinfo=UTC)),
        (
            "ipaws-2019-12-13-montgomery-md-alert-polygon-signed.xml",
            datetime(2019, 12, 14, tzinfo=UTC),
        ),
    ],
)
def test_real_ipaws_signatures_verify_with_the_same_code(name: str, at: datetime, oasis) -> None:
    """The golden vectors: FEMA's own exclusive-C14N RSA-SHA256 signatures, pinned to the
    certificate they carry, verify with the verifier the hub's messages are checked with."""
    data = (EXAMPLES / name).read_bytes()
    root = valid(data, oasis)
    der = root.findtext(f".//{DS}X509Certificate")
    pem = "-----BEGIN CERTIFICATE-----\n" + der + "\n-----END CERTIFICATE-----\n"
    assert xmlsig.verify(data, pem, at=at).findtext(f"{C}sender")
    with pytest.raises(InvalidDigest):
        xmlsig.verify(data.replace(b"<scope>Public", b"<scope>Private"), pem, at=at)


async def test_a_configured_ecdsa_key_and_certificate_sign_cap(
    hub: Hub, sqlite_url: str, tmp_path: Path, catalogue: Catalogue, oasis
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    key_file, cert_file = tmp_path / "cap.key", tmp_path / "cap.crt"
    write_private(
        key_file,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    cert_file.write_bytes(_self_signed(key))
    settings = Settings(
        db=sqlite_url, load_history=False, cap_key=str(key_file), cap_cert=str(cert_file)
    )
    app = create_app(hub, settings)
    outcome = await hub.submit(Declare(catalogue.oblasts[0].id, Threat.AIR_RAID), ACTOR)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hub"
    ) as client:
        data, root = await get_cap(client, outcome.event.id, oasis)
        method = root.find(f".//{DS}SignatureMethod").get("Algorithm")
        assert method == "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
        published = (await client.get("/.well-known/tryvoha-keys")).json()["cap"]
        assert published["certificate"] == cert_file.read_text()
        assert published["algorithm"] == "ECDSA-SHA256"
        xmlsig.verify(data, cert_file.read_bytes())
    os.chmod(key_file, 0o644)
    unsafe = create_app(hub, settings)
    with pytest.raises(KeyFileError, match="chmod 600"):
        unsafe.state.cap.keys.get()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=unsafe), base_url="http://hub"
    ) as client:
        r = await client.get(f"/api/v1/cap/{outcome.event.id}.xml")
        assert r.status_code == 503 and r.json()["error"]["code"] == "signing_unavailable"
        assert str(key_file) not in r.text


# HTTP -----------------------------------------------------------------------------------------


async def test_documents_by_id_or_identifier_are_immutable_and_cacheable(
    client: httpx.AsyncClient, hub: Hub, catalogue: Catalogue
) -> None:
    outcome = await hub.submit(Declare(catalogue.oblasts[7].id, Threat.AIR_RAID), ACTOR)
    by_id = await client.get(f"/api/v1/cap/{outcome.event.id}.xml")
    hub_id = (await client.get("/.well-known/tryvoha-keys")).json()["hub"]
    by_name = await client.get(f"/api/v1/cap/urn:tryvoha:{hub_id}:event:{outcome.event.id}.xml")
    assert by_id.content == by_name.content
    assert "immutable" in by_id.headers["cache-control"]
    again = await client.get(
        f"/api/v1/cap/{outcome.event.id}.xml", headers={"If-None-Match": by_id.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""
    await hub.submit(End(AlertRef(alert_id=outcome.event.id)), ACTOR)
    later = await client.get(f"/api/v1/cap/{outcome.event.id}.xml")
    assert later.content == by_id.content  # later events never change an earlier message
    for bad, code in (
        ("999.xml", "unknown_message"),
        ("0.xml", "unknown_message"),
        ("urn:tryvoha:elsewhere:event:1.xml", "unknown_message"),
        ("１.xml", "unknown_message"),
        ("1" * 40 + ".xml", "unknown_message"),
    ):
        r = await client.get(f"/api/v1/cap/{bad}")
        assert r.status_code == 404 and r.json()["error"]["code"] == code, bad


async def test_keys_are_published_with_validators(client: httpx.AsyncClient, hub: Hub) -> None:
    r = await client.get("/.well-known/tryvoha-keys")
    doc = r.json()
    (key,) = doc["keys"]
    assert key["algorithm"] == "Ed25519" and key["active"] and key["valid_until"] is None
    assert doc["signature"] == {
        "format": "TRYVEVT1",
        "formats": ["TRYVEVT1", "TRYVEVT2"],
        "ttl_seconds": 300,
        "docs": "docs/signatures.md",
    }
    assert doc["cap"]["certificate"].startswith("-----BEGIN CERTIFICATE-----")
    again = await client.get(
        "/.well-known/tryvoha-keys", headers={"If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304
    app = client._transport.app  # type: ignore[attr-defined]
    app.state.keys_document.signer.keyring.rotate(grace=timedelta(0))
    rotated = await client.get(
        "/.well-known/tryvoha-keys", headers={"If-None-Match": r.headers["etag"]}
    )
    assert rotated.status_code == 200 and len(rotated.json()["keys"]) == 2


# Feeds ----------------------------------------------------------------------------------------


def check_atom(data: bytes) -> etree._Element:
    """RFC 4287's rules for a feed and its entries (there is no official XSD for Atom)."""
    root = etree.fromstring(data)
    assert root.tag == f"{ATOM}feed"
    for tag in ("id", "title", "updated"):
        assert len(root.findall(f"{ATOM}{tag}")) == 1, tag
    assert root.find(f"{ATOM}author/{ATOM}name") is not None
    assert root.find(f"{ATOM}link[@rel='self']") is not None
    rfc3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
    assert rfc3339.fullmatch(root.findtext(f"{ATOM}updated"))
    ids = []
    for entry in root.findall(f"{ATOM}entry"):
        for tag in ("id", "title", "updated"):
            assert len(entry.findall(f"{ATOM}{tag}")) == 1, tag
        assert rfc3339.fullmatch(entry.findtext(f"{ATOM}updated"))
        links = entry.findall(f"{ATOM}link[@rel='alternate']")
        assert len(links) == 1 and links[0].get("type") == "application/cap+xml"
        ids.append(entry.findtext(f"{ATOM}id"))
    assert len(ids) == len(set(ids))
    return root


def entry_ids(root: etree._Element) -> list[int]:
    return [int(e.findtext(f"{ATOM}id").rsplit(":", 1)[1]) for e in root.findall(f"{ATOM}entry")]


async def test_feeds_hold_what_is_in_force_and_recent_per_region(
    client: httpx.AsyncClient, hub: Hub, catalogue: Catalogue, oasis
) -> None:
    oblast = catalogue.resolve("Kharkivska oblast")
    raion = catalogue.children(oblast.id)[0]
    hromada = catalogue.children(raion.id)[0]
    elsewhere = catalogue.resolve("Lvivska oblast")
    a = await hub.submit(Declare(hromada.id, Threat.AIR_RAID), ACTOR)
    b = await hub.submit(Declare(raion.id, Threat.ARTILLERY_SHELLING), ACTOR)
    c = await hub.submit(Declare(elsewhere.id, Threat.AIR_RAID), ACTOR)
    d = await hub.submit(Declare(oblast.id, Threat.AIR_RAID, status=AlertStatus.TEST), ACTOR)
    e = await hub.submit(End(AlertRef(alert_id=b.event.id)), ACTOR)
    f = await hub.submit(Update(AlertRef(alert_id=a.event.id), notes="ще летить"), ACTOR)

    national = await client.get("/api/v1/cap/feed.atom")
    assert national.headers["content-type"] == "application/atom+xml; charset=utf-8"
    root = check_atom(national.content)
    # In force first (the latest message of each open alert), then recent ends.
    assert entry_ids(root) == [f.event.id, c.event.id, e.event.id]
    for link in root.iter(f"{ATOM}link"):
        if link.get("type") == "application/cap+xml":
            path = httpx.URL(link.get("href")).path
            valid((await client.get(path)).content, oasis)

    by_oblast = check_atom(
        (await client.get("/api/v1/cap/feed.atom", params={"region": oblast.id})).content
    )
    assert entry_ids(by_oblast) == [f.event.id, e.event.id]  # its raion and hromada, not Lviv
    by_hromada = await client.get("/api/v1/cap/feed.atom", params={"region": hromada.id})
    assert entry_ids(check_atom(by_hromada.content)) == [f.event.id, e.event.id]  # and the raion
    drills = await client.get(
        "/api/v1/cap/feed.atom", params={"region": oblast.id, "status": ["test", "exercise"]}
    )
    assert entry_ids(check_atom(drills.content)) == [d.event.id]

    etag = national.headers["etag"]
    same = await client.get("/api/v1/cap/feed.atom", headers={"If-None-Match": etag})
    assert same.status_code == 304
    kharkiv = await client.get("/api/v1/cap/feed.atom", params={"region": oblast.id})
    await hub.submit(End(AlertRef(alert_id=c.event.id)), ACTOR)  # Lviv's alert ends
    moved = await client.get("/api/v1/cap/feed.atom", headers={"If-None-Match": etag})
    assert moved.status_code == 200 and moved.headers["etag"] != etag
    unchanged = await client.get(
        "/api/v1/cap/feed.atom",
        params={"region": oblast.id},
        headers={"If-None-Match": kharkiv.headers["etag"]},
    )
    assert unchanged.status_code == 304  # nothing changed in Kharkiv oblast's feed

    r = await client.get("/api/v1/cap/feed.atom", params={"region": "UA99"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_region"
    r = await client.get("/api/v1/cap/feed.atom", params={"status": "real"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"


async def test_a_feed_stays_under_100_kb_on_a_busy_day(
    client: httpx.AsyncClient, hub: Hub, catalogue: Catalogue
) -> None:
    hromadas = [r for r in catalogue if r.level is Level.HROMADA][:400]
    for region in hromadas[:300]:  # 300 alerts that come and go, then 100 in force
        outcome = await hub.submit(Declare(region.id, Threat.AIR_RAID), ACTOR)
        await hub.submit(End(AlertRef(alert_id=outcome.event.id)), ACTOR)
    for region in hromadas[300:]:
        await hub.submit(Declare(region.id, Threat.AIR_RAID), ACTOR)
    r = await client.get("/api/v1/cap/feed.atom")
    root = check_atom(r.content)
    assert len(r.content) <= MAX_FEED_BYTES < 100_000
    ids = entry_ids(root)
    assert len(ids) >= 100  # every alert in force is there, then recent ends as room allows
    in_force = {a.last_event_id for a in hub.open_alerts()}
    assert in_force <= set(ids)


async def test_a_feed_shows_an_alert_open_since_before_the_recent_events(
    hub: Hub, settings: Settings, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An alert open for longer than the recent window (Crimea's, since 2022) is read from the
    store once, then kept: the next feeds are built without reading it again."""
    from tryvoha.channels.cap import service

    monkeypatch.setattr(service, "RECENT_EVENTS", 3)
    old = await hub.submit(Declare(catalogue.resolve("Crimea").id, Threat.AIR_RAID), ACTOR)
    for name in ("Lvivska oblast", "Volynska oblast"):
        outcome = await hub.submit(Declare(catalogue.resolve(name).id, Threat.AIR_RAID), ACTOR)
        await hub.submit(End(AlertRef(alert_id=outcome.event.id)), ACTOR)
    app = create_app(hub, settings)  # a restarted hub's app: it knows only the recent events
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://h") as c:
        first = check_atom((await c.get("/api/v1/cap/feed.atom")).content)
        assert old.event.id in entry_ids(first)
        cap: service.CapService = app.state.cap
        assert cap.in_memory(cap.snapshot(service.FeedRequest(None, ("actual",))))
        new = await hub.submit(
            Declare(catalogue.resolve("Sumska oblast").id, Threat.AIR_RAID), ACTOR
        )
        again = check_atom((await c.get("/api/v1/cap/feed.atom")).content)
        assert entry_ids(again)[:2] == [new.event.id, old.event.id]  # both in force, newest first
