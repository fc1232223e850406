"""The cross-origin cases every face of the request layer must decide alike.

Each case is a request carrying the token cookie to the API at
``https://api.example.test`` (scheme, ``Host``), whose middleware trusts
``https://app.example.test``; ``passes`` says whether the check lets it
through. The core table test feeds the cases to the pure function and both
request views; the ASGI, WSGI and FastAPI tests send them for real.
"""

from __future__ import annotations

import pytest

API_HOST = "api.example.test"
API_ORIGIN = "https://api.example.test"
TRUSTED = "https://app.example.test"
COOKIE = "access_token"

SITE = "Sec-Fetch-Site"


def _case(method: str, headers: list[tuple[str, str]], passes: bool, id: str) -> object:
    return pytest.param(method, headers, passes, id=id)


CASES = [
    # Safe methods are never checked (RFC 9110 §9.2.1).
    _case("GET", [(SITE, "cross-site"), ("Origin", "https://evil.example")], True, "get-cross-site"),
    _case("HEAD", [(SITE, "cross-site"), ("Origin", "https://evil.example")], True, "head-cross-site"),
    _case("OPTIONS", [(SITE, "cross-site"), ("Origin", "https://evil.example")], True, "options-cross-site"),
    # Methods are case-sensitive (RFC 9110 §9.1): a lower-case method is not a safe one.
    _case("get", [(SITE, "cross-site")], False, "lower-case-get-is-checked"),
    _case("post", [(SITE, "cross-site")], False, "lower-case-post"),
    _case("post", [(SITE, "same-origin")], True, "lower-case-post-same-origin"),
    # Fetch Metadata first.
    _case("POST", [(SITE, "same-origin")], True, "same-origin"),
    _case("POST", [(SITE, "none")], True, "user-initiated-none"),
    _case("POST", [(SITE, "same-site")], False, "same-site-sibling-subdomain"),
    _case("POST", [(SITE, "same-site"), ("Origin", "https://www.example.test")], False, "same-site-untrusted-origin"),
    _case("POST", [(SITE, "same-site"), ("Origin", TRUSTED)], True, "same-site-trusted-origin"),
    _case("POST", [(SITE, "cross-site")], False, "cross-site"),
    _case("POST", [(SITE, "cross-site"), ("Origin", "https://evil.example")], False, "cross-site-untrusted"),
    _case("POST", [(SITE, "cross-site"), ("Origin", TRUSTED)], True, "cross-site-trusted-origin"),
    _case("POST", [(SITE, "cross-site"), ("Origin", "HTTPS://APP.example.test:443")], True, "trusted-normalised"),
    _case("POST", [(SITE, "cross-site"), ("Origin", API_ORIGIN)], False, "cross-site-with-own-origin"),
    _case("POST", [(SITE, "bogus")], False, "unknown-value"),
    _case("POST", [(SITE, "Same-Origin")], False, "values-are-case-sensitive"),
    _case("POST", [(SITE, "")], False, "empty-value"),
    _case("PUT", [(SITE, "cross-site")], False, "put"),
    _case("DELETE", [(SITE, "cross-site")], False, "delete"),
    _case("PATCH", [(SITE, "same-site")], False, "patch"),
    # Without Fetch Metadata (older browsers): Origin against the own origin.
    _case("POST", [("Origin", API_ORIGIN)], True, "origin-is-own"),
    _case("POST", [("Origin", "HTTPS://API.EXAMPLE.TEST:443")], True, "origin-own-normalised"),
    _case("POST", [("Origin", TRUSTED)], True, "origin-trusted"),
    _case("POST", [("Origin", "null")], False, "origin-null"),
    _case("POST", [("Origin", "https://api.example.test:8443")], False, "origin-other-port"),
    _case("POST", [("Origin", "http://api.example.test")], False, "origin-other-scheme"),
    _case("POST", [("Origin", "https://www.example.test")], False, "origin-sibling-subdomain"),
    _case("POST", [("Origin", "https://evil.example")], False, "origin-other-site"),
    _case("POST", [("Origin", "https://api.example.test/path")], False, "origin-with-path"),
    _case("POST", [("Origin", "")], False, "origin-empty"),
    _case("DELETE", [("Origin", "https://evil.example")], False, "delete-other-origin"),
    # Neither header: not a browser.
    _case("POST", [], True, "no-browser-headers"),
    _case("DELETE", [], True, "no-browser-headers-delete"),
]
