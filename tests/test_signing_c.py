"""The C verifier for devices (contrib/c-verifier, libsodium), compiled here and run on what a real
hub process sent: genuine messages pass, altered, forged, replayed, reordered, wrong-key, wrong-hub,
retired-key and expired ones are refused."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from tryvoha.cli import app as cli
from tryvoha.signing.canonical import parse_ms

from .test_signing_channels import Captured, captured  # noqa: F401  (the module's live hub)

SOURCE = Path(__file__).resolve().parents[1] / "contrib" / "c-verifier"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def verifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not Path("/usr/include/sodium.h").exists() or shutil.which("make") is None:
        message = "libsodium-dev and make are needed (scripts/ensure-test-services.sh)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    build = tmp_path_factory.mktemp("c-verifier")
    subprocess.run(["make", "-s", "-C", str(SOURCE), f"BUILD={build}"], check=True)
    return build / "tryvoha_verify"


@pytest.fixture(scope="module")
def keys_text(captured: Captured, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    result = CliRunner().invoke(cli, ["keys", "export", "--format", "text", "--url", captured.url])
    assert result.exit_code == 0, result.output
    path = tmp_path_factory.mktemp("keys") / "keys.txt"
    path.write_text(result.stdout)
    return path


def run(verifier: Path, keys: Path, stdin: bytes, *args: str) -> tuple[int, list[str]]:
    done = subprocess.run(
        [str(verifier), *args, str(keys)], input=stdin, capture_output=True, timeout=30
    )
    return done.returncode, done.stdout.decode().splitlines()


def alert_lines(captured: Captured) -> list[bytes]:  # noqa: F811
    return [line.encode() for line in captured.ws if '"type":"alert"' in line]


def verdicts(lines: list[str]) -> list[str]:
    return [" ".join(line.split()[:2]) if line.startswith("REJECT") else "OK" for line in lines]


def test_genuine_messages_pass_and_fields_come_from_the_signed_bytes(
    verifier: Path,
    keys_text: Path,
    captured: Captured,  # noqa: F811
) -> None:
    code, lines = run(verifier, keys_text, captured.sse[0])  # a raw SSE capture, snapshot and all
    assert code == 0, lines
    region = captured.events[0]["region_id"]
    assert [line.split()[:4] for line in lines] == [
        ["OK", "log=1", "alert=1", "kind=declared"],
        ["OK", "log=2", "alert=1", "kind=updated"],
        ["OK", "log=3", "alert=1", "kind=ended"],
    ]
    assert all(f"region={region} threat=air_raid status=actual" in line for line in lines)
    assert "details=drones" in lines[1]
    assert lines[0].endswith(f"notes={len('шахеди з моря'.encode())}")
    expires = parse_ms(captured.events[0]["recorded_at"]) + 300_000
    assert f"expires={expires}" in lines[0]
    code, again = run(verifier, keys_text, b"\n".join(alert_lines(captured)) + b"\n")
    assert code == 0 and again == lines  # the WebSocket messages: the same events, the same bytes


def _with_sig(line: bytes, **changes: str) -> bytes:
    doc = orjson.loads(line)
    doc["sig"] = {**doc["sig"], **changes}
    return orjson.dumps(doc)


def test_altered_and_forged_messages_are_refused(
    verifier: Path,
    keys_text: Path,
    captured: Captured,  # noqa: F811
) -> None:
    first = alert_lines(captured)[0]
    sig = orjson.loads(first)["sig"]
    signed = bytearray(base64.b64decode(sig["signed"]))
    cases = {}
    for offset in (8, 16, 30, 48, 60, len(signed) - 1):  # log id, alert id, times, flags, strings
        altered = bytearray(signed)
        altered[offset] ^= 0x01
        cases[f"byte {offset}"] = _with_sig(first, signed=base64.b64encode(altered).decode())
    bad_sig = bytearray(base64.b64decode(sig["signature"]))
    bad_sig[10] ^= 0x80
    cases["signature"] = _with_sig(first, signature=base64.b64encode(bad_sig).decode())
    forger = Ed25519PrivateKey.generate()
    cases["forged"] = _with_sig(first, signature=base64.b64encode(forger.sign(signed)).decode())
    cases["unknown key"] = _with_sig(first, key_id="0123456789abcdef")
    cases["unsigned"] = orjson.dumps({k: v for k, v in orjson.loads(first).items() if k != "sig"})
    cases["malformed"] = _with_sig(first, signed="@@@@")
    # The JSON around the signature is never trusted: re-addressing it changes nothing checked.
    moved = orjson.loads(first)
    moved["region_id"] = "UA80000000000093317"
    for name, message in cases.items():
        code, lines = run(verifier, keys_text, message + b"\n")
        expected = {
            "unknown key": "REJECT unknown_key",
            "unsigned": "REJECT unsigned",
            "malformed": "REJECT malformed",
        }.get(name, "REJECT bad_signature")
        assert (code, verdicts(lines)) == (1, [expected]), name
    code, lines = run(verifier, keys_text, orjson.dumps(moved) + b"\n")
    assert code == 0 and f"region={captured.events[0]['region_id']}" in lines[0]


def test_replayed_reordered_and_expired_messages_are_refused(
    verifier: Path,
    keys_text: Path,
    captured: Captured,  # noqa: F811
) -> None:
    one, two, three = alert_lines(captured)
    code, lines = run(verifier, keys_text, b"\n".join([one, two, one, three, two]) + b"\n")
    assert code == 1
    assert verdicts(lines) == ["OK", "OK", "REJECT replayed", "OK", "REJECT replayed"]
    code, lines = run(verifier, keys_text, b"\n".join([one, three, two]) + b"\n")
    assert verdicts(lines) == ["OK", "OK", "REJECT reordered"]
    code, lines = run(verifier, keys_text, b"\n".join([one, two, three]) + b"\n", "-l", "2")
    assert verdicts(lines) == ["REJECT replayed", "REJECT replayed", "OK"]

    expires = parse_ms(orjson.loads(one)["sig"]["expires_at"])
    code, lines = run(verifier, keys_text, one + b"\n", "-t", str(expires))
    assert code == 0
    code, lines = run(verifier, keys_text, one + b"\n", "-t", str(expires + 1))
    assert (code, verdicts(lines)) == (1, ["REJECT expired"])


def test_wrong_keys_and_hubs_are_refused(
    verifier: Path,
    keys_text: Path,
    captured: Captured,  # noqa: F811
    tmp_path: Path,
) -> None:
    one = alert_lines(captured)[0] + b"\n"
    text = keys_text.read_text()
    (key_line,) = [line for line in text.splitlines() if line.startswith("key ")]
    _, key_id, public, _ = key_line.split()

    other_hub = tmp_path / "other-hub.txt"
    other_hub.write_text(text.replace("hub hub.test", "hub hub.elsewhere"))
    assert verdicts(run(verifier, other_hub, one)[1]) == ["REJECT wrong_hub"]

    recorded = parse_ms(captured.events[0]["recorded_at"])
    retired = tmp_path / "retired.txt"
    retired.write_text(text.replace(key_line, f"key {key_id} {public} {recorded - 1}"))
    assert verdicts(run(verifier, retired, one)[1]) == ["REJECT key_retired"]
    still = tmp_path / "still.txt"
    still.write_text(text.replace(key_line, f"key {key_id} {public} {recorded}"))
    assert run(verifier, still, one)[0] == 0

    stranger = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    swapped = tmp_path / "swapped.txt"  # the hub's key id over someone else's key
    swapped.write_text(text.replace(public, base64.b64encode(stranger).decode()))
    code, _ = run(verifier, swapped, one)
    assert code == 2  # the key list itself is refused: an id must match its key

    other = CliRunner().invoke(cli, ["keys", "rotate", "--keys", str(tmp_path / "o.keys")])
    assert other.exit_code == 0
    exported = CliRunner().invoke(
        cli, ["keys", "export", "--format", "text", "--keys", str(tmp_path / "o.keys")]
    )
    hub_line = next(line for line in exported.stdout.splitlines() if line.startswith("hub "))
    wrong = tmp_path / "wrong.txt"  # the hub's name, another hub's key
    wrong.write_text(exported.stdout.replace(hub_line, "hub hub.test"))
    assert verdicts(run(verifier, wrong, one)[1]) == ["REJECT unknown_key"]


def test_a_retraction_and_an_approved_declaration_read_from_layout_2(
    verifier: Path, tmp_path: Path
) -> None:
    """A siren must read a retraction (layout 2) as surely as the alert it withdraws."""
    from datetime import UTC, datetime

    from tryvoha.alerts.model import AlertStatus, Event, EventKind, Threat
    from tryvoha.alerts.wire import event_doc
    from tryvoha.signing import EventSigner, Keyring
    from tryvoha.signing.keys import device_keys_text

    keyring = Keyring.open(tmp_path / "keys", hub_id="hub.test")
    signer = EventSigner(keyring)
    keys = tmp_path / "keys.txt"
    keys.write_text(device_keys_text(keyring.published()))
    now = datetime.now(UTC)
    common = {
        "region_id": "UA32000000000030281",
        "threat": Threat.NUCLEAR,
        "status": AlertStatus.ACTUAL,
        "occurred_at": now,
        "recorded_at": now,
    }
    approved = Event(
        7,
        EventKind.DECLARED,
        7,
        originator="token:b",
        proposal_id=5,
        proposed_by="token:a",
        **common,  # type: ignore[arg-type]
    )
    correction = "Скасовано: …\nWithdrawn: …"
    retracted = Event(
        8,
        EventKind.RETRACTED,
        7,
        originator="token:b",
        reason="помилка",
        correction=correction,
        notes="ЗАЕС",
        **common,  # type: ignore[arg-type]
    )
    lines = [
        orjson.dumps({**event_doc(e), "sig": signer.sig_doc(e)})
        for e in (approved, retracted, Event(9, EventKind.ENDED, 1, originator="x", **common))  # type: ignore[arg-type]
    ]
    code, out = run(verifier, keys, b"\n".join(lines) + b"\n")
    assert code == 0, out
    assert out[0].split()[3] == "kind=declared" and out[0].endswith(
        "proposal=5 reason=0 correction=0"
    )
    assert out[1].split()[3] == "kind=retracted"
    assert out[1].endswith(
        f"notes={len('ЗАЕС'.encode())} proposal=0 reason="
        f"{len('помилка'.encode())} correction={len(correction.encode())}"
    )
    assert "proposal=" not in out[2]  # layout 1, as before
    sig = orjson.loads(lines[1])["sig"]
    signed = bytearray(base64.b64decode(sig["signed"]))
    for offset, value in [(64, signed[64] | 0x40), (64, 0x01), (48, 1)]:
        bad = bytearray(signed)
        bad[offset] = value  # unknown flag; nothing of layout 2; a proposal id without its flag
        key_id, signature = keyring.sign(bytes(bad))  # signed by the hub's key, still no event
        message = _with_sig(
            lines[1],
            key_id=key_id,
            signed=base64.b64encode(bad).decode(),
            signature=base64.b64encode(signature).decode(),
        )
        assert verdicts(run(verifier, keys, message + b"\n")[1]) == ["REJECT malformed"]
