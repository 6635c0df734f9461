"""channels/mqtt.py: broker URLs, the LED colour, which regions to republish, event topics, the
corked writes."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from tryvoha.alerts.model import Alert, AlertStatus, Event, EventKind, RegionStatus, Threat
from tryvoha.alerts.status import all_threat_statuses
from tryvoha.channels.mqtt import (
    MqttPublisher,
    _corked,
    changed_regions,
    overall,
    parse_broker_url,
    region_threats,
)
from tryvoha.hub import Hub
from tryvoha.regions import Catalogue

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "host", "port", "username", "password", "tls"),
    [
        ("mqtt://broker.example.org", "broker.example.org", 1883, None, None, False),
        ("mqtts://broker.example.org", "broker.example.org", 8883, None, None, True),
        ("mqtts://broker.example.org:9883", "broker.example.org", 9883, None, None, True),
        ("tcp://10.0.0.5:1884", "10.0.0.5", 1884, None, None, False),
        ("ssl://h", "h", 8883, None, None, True),
        ("broker.local", "broker.local", 1883, None, None, False),  # no scheme: plain MQTT
        ("mqtt://[::1]:1885", "::1", 1885, None, None, False),
        ("mqtt://siren:p%40ss%3Aw0rd@h", "h", 1883, "siren", "p@ss:w0rd", False),
        ("mqtt://only-user@h", "h", 1883, "only-user", None, False),
        ("MQTT://Broker.Example.ORG", "broker.example.org", 1883, None, None, False),
    ],
)
def test_broker_urls(url, host, port, username, password, tls) -> None:
    address = parse_broker_url(url)
    assert (address.host, address.port, address.username, address.password, address.tls) == (
        host,
        port,
        username,
        password,
        tls,
    )


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://broker", "must start with mqtt:// or mqtts://"),
        ("ws://broker:9001", "must start with mqtt:// or mqtts://"),
        ("mqtt://", "has no host"),
        ("mqtt://:1883", "has no host"),
        ("mqtt://h:99999", "port must be 1 to 65535, not '99999'"),
        ("mqtt://h:abc", "port must be 1 to 65535, not 'abc'"),
        ("mqtt://h:0", "port must be 1 to 65535, not '0'"),
        ("mqtts://h:00", "port must be 1 to 65535, not '00'"),
        ("mqtt://h:65536", "port must be 1 to 65535, not '65536'"),
        ("mqtt://h:-1", "port must be 1 to 65535, not '-1'"),
        ("mqtt://h:1_883", "port must be 1 to 65535, not '1_883'"),
        ("mqtt://h:" + "9" * 5000, "port must be 1 to 65535"),
    ],
)
def test_bad_broker_urls_are_refused(url: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_broker_url(url)


@pytest.mark.parametrize("port", [1, 1883, 65535])
def test_every_port_in_range_is_kept(port: int) -> None:
    assert parse_broker_url(f"mqtt://h:{port}").port == port


@pytest.mark.parametrize(
    "url",
    [
        "http://siren:s3cret@h",
        "mqtt://siren:s3cret@h:0",
        "ws://siren:s3c@ret@h/x",
        "siren:s3cret@h:0",
    ],
)
def test_a_refusal_never_shows_the_password(url: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_broker_url(url)
    assert "s3c" not in str(refused.value) and "siren:***@" in str(refused.value)


@pytest.mark.parametrize(
    ("threats", "colour"),
    [
        ({}, "none"),
        ({"air_raid": "none", "nuclear": "none"}, "none"),
        ({"air_raid": "partial", "nuclear": "none"}, "partial"),
        ({"air_raid": "partial", "nuclear": "active"}, "active"),
        ({"air_raid": "active", "nuclear": "partial"}, "active"),
    ],
)
def test_one_colour_for_an_led(threats: dict[str, str], colour: str) -> None:
    assert overall(threats) == colour


def open_alert(alert_id: int, region_id: str, threat: Threat = Threat.AIR_RAID) -> Alert:
    return Alert(alert_id, region_id, threat, AlertStatus.ACTUAL, AT, "t", last_event_id=alert_id)


def test_changed_regions_are_those_whose_status_for_a_threat_differs(
    catalogue: Catalogue,
) -> None:
    oblast = catalogue.oblasts[3]
    raion = catalogue.children(oblast.id)[0]
    hromadas = {r.id for r in catalogue.descendants(raion.id)}
    quiet = all_threat_statuses(catalogue, {})
    one = all_threat_statuses(catalogue, {1: open_alert(1, raion.id)})
    assert changed_regions(None, quiet) is None  # nothing published yet: everything
    assert changed_regions(quiet, quiet) == {t: set() for t in Threat}
    declared = changed_regions(quiet, one)
    assert declared[Threat.AIR_RAID] == {raion.id, *hromadas, oblast.id, "UA"}
    assert all(declared[t] == set() for t in Threat if t is not Threat.AIR_RAID)
    assert changed_regions(one, quiet) == declared  # the end changes them back
    # The oblast goes from partial to active: it and every region in it, not the country.
    both = all_threat_statuses(catalogue, {1: open_alert(1, raion.id), 2: open_alert(2, oblast.id)})
    widened = changed_regions(one, both)[Threat.AIR_RAID]
    inside = {r.id for r in catalogue.descendants(oblast.id)}
    assert widened == {oblast.id} | (inside - {raion.id} - hromadas)
    assert region_threats(both, raion.id) == {
        t.value: ("active" if t is Threat.AIR_RAID else "none") for t in Threat
    }
    assert region_threats(both, "UA")["air_raid"] == RegionStatus.PARTIAL.value


def an_event(region_id: str, status: AlertStatus = AlertStatus.ACTUAL) -> Event:
    return Event(1, EventKind.DECLARED, 1, region_id, Threat.AIR_RAID, status, AT, AT, "t")


def test_event_topics_follow_the_region_tree(hub: Hub) -> None:
    catalogue = hub.catalogue
    oblast = catalogue.oblasts[3]
    raion = catalogue.children(oblast.id)[0]
    hromada = catalogue.children(raion.id)[0]
    publisher = MqttPublisher(hub, "mqtt://127.0.0.1:1", prefix="city/sirens/")  # not started
    assert publisher.event_topic(an_event(oblast.id)) == f"city/sirens/events/{oblast.id}"
    assert publisher.event_topic(an_event(raion.id)) == f"city/sirens/events/{oblast.id}/{raion.id}"
    assert publisher.event_topic(an_event(hromada.id)) == (
        f"city/sirens/events/{oblast.id}/{raion.id}/{hromada.id}"
    )
    assert publisher.event_topic(an_event(hromada.id, AlertStatus.EXERCISE)) == (
        f"city/sirens/drills/events/{oblast.id}/{raion.id}/{hromada.id}"
    )
    assert publisher.event_topic(an_event("UA")) == "city/sirens/events/UA"
    assert publisher.status_topic(hromada.id) == f"city/sirens/status/{hromada.id}"


def aiomqtt_report(*_args: object) -> None:
    """Stands for aiomqtt's `on_publish`."""


class OneSocketClient:
    """What `_corked` uses of paho's client: its socket, its `on_publish` callback, and writing
    what is queued."""

    def __init__(self, sock: socket.socket, lose_connection: bool) -> None:
        self.sock, self.lose_connection, self.written = sock, lose_connection, 0
        self.on_publish: object = aiomqtt_report
        self.reported_to: list[object] = []

    def socket(self) -> socket.socket:
        return self.sock

    def loop_write(self) -> int:
        self.reported_to.append(self.on_publish)
        self.sock.sendall(b"queued")
        self.written += 1
        if self.lose_connection:
            self.sock.close()  # as paho does when the broker is gone
        return 0


@pytest.mark.parametrize("lose_connection", [False, True])
def test_corked_writes_go_out_at_once_and_a_lost_connection_is_left_to_the_client(
    lose_connection: bool,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        sock = socket.create_connection(server.getsockname())
        peer, _ = server.accept()
        paho = OneSocketClient(sock, lose_connection)
        with _corked(SimpleNamespace(_client=paho)):  # type: ignore[arg-type]
            pass
        assert paho.written == 1
        assert paho.reported_to == [None]  # nothing reported per message written
        assert paho.on_publish is aiomqtt_report  # and the callback back in place
        peer.settimeout(5)
        assert peer.recv(64) == b"queued"  # uncorked: sent without waiting for more
        if not lose_connection:
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK) == 0
        sock.close()
        peer.close()
