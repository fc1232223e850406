"""DPoP errors and their ``DPoP`` challenges (RFC 9449 §7.1, §9)."""

from __future__ import annotations

import pytest

from jwt_guard import AuthError, ExpiredToken, InvalidRequest, InvalidToken, MissingToken
from jwt_guard._dpop_errors import (
    DPoPProofReplayed,
    DPoPTokenAsBearer,
    InvalidDPoPBinding,
    InvalidDPoPProof,
    UseDPoPNonce,
    dpop_challenge,
    dpop_headers,
)

ALGS = ("ES256", "EdDSA")


@pytest.mark.parametrize(
    ("error", "code", "parent"),
    [
        (InvalidDPoPProof(), "invalid_dpop_proof", AuthError),
        (UseDPoPNonce("n"), "use_dpop_nonce", InvalidDPoPProof),
        (DPoPProofReplayed(), "invalid_dpop_proof", InvalidDPoPProof),
        (InvalidDPoPBinding(), "invalid_token", InvalidToken),
        (DPoPTokenAsBearer(), "invalid_token", InvalidToken),
    ],
)
def test_the_tree(error: AuthError, code: str, parent: type[AuthError]) -> None:
    assert isinstance(error, parent)
    assert (error.status_code, error.error) == (401, code)
    assert error.scheme == "DPoP"  # type: ignore[attr-defined]
    assert error.description and str(error) == error.description


@pytest.mark.parametrize(
    ("error", "challenge"),
    [
        (
            InvalidDPoPProof(algorithms=ALGS),
            'DPoP error="invalid_dpop_proof", error_description="the DPoP proof is invalid", algs="ES256 EdDSA"',
        ),
        (
            UseDPoPNonce("abc", algorithms=ALGS),
            'DPoP error="use_dpop_nonce", error_description="the DPoP proof must carry the current server nonce", '
            'algs="ES256 EdDSA"',
        ),
        (
            InvalidDPoPBinding(algorithms=("ES256",)),
            'DPoP error="invalid_token", error_description="the access token is not bound to the DPoP proof key", '
            'algs="ES256"',
        ),
        (
            DPoPProofReplayed(),
            'DPoP error="invalid_dpop_proof", error_description="the DPoP proof has already been used"',
        ),
    ],
)
def test_challenges(error: AuthError, challenge: str) -> None:
    assert error.www_authenticate() == challenge
    assert error.www_authenticate("api") == challenge.replace("DPoP ", 'DPoP realm="api", ', 1)


def test_a_challenge_without_parameters() -> None:
    assert dpop_challenge(None, []) == "DPoP"
    assert dpop_challenge(None, [("algs", "ES256")]) == 'DPoP algs="ES256"'


def test_values_are_quoted_safely() -> None:
    """Quotes and backslashes escaped, control characters dropped (RFC 9110 §5.6.4),
    and error_description limited to RFC 6750's characters."""
    challenge = dpop_challenge('r"e\\alm\r\n', [("error_description", 'say "hi"\u00e9\n')])
    assert challenge == 'DPoP realm="r\\"e\\\\alm", error_description="say ?hi???"'
    assert "\n" not in challenge and "\r" not in challenge


@pytest.mark.parametrize(
    ("error", "headers"),
    [
        (MissingToken(), [("www-authenticate", 'DPoP algs="ES256 EdDSA"')]),
        (
            ExpiredToken(),
            [
                (
                    "www-authenticate",
                    'DPoP error="invalid_token", error_description="the access token has expired", algs="ES256 EdDSA"',
                )
            ],
        ),
        (
            UseDPoPNonce("n0nce", algorithms=ALGS),
            [
                (
                    "www-authenticate",
                    'DPoP error="use_dpop_nonce", error_description="the DPoP proof must carry the current server '
                    'nonce", algs="ES256 EdDSA"',
                ),
                ("dpop-nonce", "n0nce"),
            ],
        ),
    ],
)
def test_dpop_headers(error: AuthError, headers: list[tuple[str, str]]) -> None:
    assert dpop_headers(error, algorithms=ALGS) == headers


def test_dpop_headers_do_not_repeat_algs() -> None:
    [(_, challenge)] = dpop_headers(InvalidDPoPProof(algorithms=("PS256",)), algorithms=ALGS)
    assert challenge.count("algs=") == 1
    assert challenge.endswith('algs="PS256"')


def test_a_request_error_keeps_its_code() -> None:
    [(_, challenge)] = dpop_headers(InvalidRequest("two DPoP headers"), realm="api")
    assert challenge == 'DPoP realm="api", error="invalid_request", error_description="two DPoP headers"'


def test_the_nonce_is_only_in_its_own_header() -> None:
    error = UseDPoPNonce("secret-looking-nonce", algorithms=ALGS)
    assert "secret-looking-nonce" not in error.www_authenticate()
    assert "secret-looking-nonce" not in error.description
