"""Testing helpers: an in-process issuer, key-server transports and a local
server, for jwt_guard's own tests and for applications' test suites.

.. warning::
   Never use these in production: they mint tokens for anyone who asks.
"""

from jwt_guard.testing._authserver import AuthorizationServer
from jwt_guard.testing._clock import FakeClock
from jwt_guard.testing._cookies import clear_token_cookie, set_token_cookie
from jwt_guard.testing._dpop import DPoPAuth, DPoPKey, bound_token
from jwt_guard.testing._introspection import IntrospectionCall, IntrospectionEndpoint
from jwt_guard.testing._issuer import LocalIssuer
from jwt_guard.testing._keyserver import FAULTS, KeyServer, Recorded
from jwt_guard.testing._network import LocalServer, mock_transport
from jwt_guard.testing._signing import SigningKey, b64url, encode_segments

__all__ = [
    "FAULTS",
    "AuthorizationServer",
    "DPoPAuth",
    "DPoPKey",
    "FakeClock",
    "IntrospectionCall",
    "IntrospectionEndpoint",
    "KeyServer",
    "LocalIssuer",
    "LocalServer",
    "Recorded",
    "SigningKey",
    "b64url",
    "bound_token",
    "clear_token_cookie",
    "encode_segments",
    "mock_transport",
    "set_token_cookie",
]
