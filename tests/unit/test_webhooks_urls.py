"""channels/webhooks/urls.py: the rules a webhook target URL must meet before any connection."""

from __future__ import annotations

import re

import pytest

from tryvoha.channels.webhooks.urls import MAX_URL, BadUrl, check_syntax, target_of


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "url is empty"),
        ("   ", "url is empty"),
        ("https://h/" + "a" * MAX_URL, f"longer than {MAX_URL} characters"),
        ("http://h/ a", "spaces or control characters"),
        ("http://h/\x7f", "spaces or control characters"),
        ("http://h:99999/", "url does not parse"),
        ("ftp://h/", "scheme must be http or https, not ftp"),
        ("//h/x", "scheme must be http or https, not (none)"),
        ("http://u:p@h/", "must not contain credentials"),
        ("http://@h/", "must not contain credentials"),
        ("http:///p", "url has no host"),
        ("http://h:0/", "port 0 is not valid"),
        ("http://h/#f", "must not contain a #fragment"),
    ],
)
def test_a_url_that_breaks_a_rule_is_refused_naming_it(url: str, problem: str) -> None:
    with pytest.raises(BadUrl, match=re.escape(problem)):
        check_syntax(url)


def test_a_good_url_comes_back_stripped() -> None:
    assert check_syntax("  https://Example.com:8443/hook?x=1 \n") == (
        "https://Example.com:8443/hook?x=1"
    )
    assert check_syntax("HTTP://h/") == "HTTP://h/"  # the scheme in any case


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("http://example.com", ("example.com", 80)),
        ("https://example.com/x", ("example.com", 443)),
        ("http://example.com:8080/", ("example.com", 8080)),
        ("http://[::1]:8080/x", ("::1", 8080)),
        ("https://пример.укр/hook", ("xn--e1afmkfd.xn--j1amh", 443)),
        ("http://exa_mple.com/", ("exa_mple.com", 80)),  # underscores occur in real names
    ],
)
def test_the_target_is_what_the_client_will_connect_to(url: str, target: tuple[str, int]) -> None:
    assert target_of(url) == target


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://-bad.com/", "is not a valid host name"),
        ("http://a..b/", "is not a valid host name"),
        ("http://" + "a" * 64 + ".com/", "is not a valid host name"),
        ("http://[fe80::1%25eth0]/", "must not carry an IPv6 zone id"),
    ],
)
def test_a_host_the_resolver_could_misread_is_refused(url: str, problem: str) -> None:
    with pytest.raises(BadUrl, match=problem):
        target_of(url)
