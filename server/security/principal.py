"""Who is making a request: a registered client acting for an agency, or an operator."""

from __future__ import annotations

from dataclasses import dataclass, replace

from server.security.scopes import Scopes

CLIENT_ID_SYSTEM = "https://cradle.example/fhir/Id/client"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller.

    `agency` is the agency's Organization reference (`Organization/id`); an `operator` (the admin
    client, or a `cradle token` minted without an agency) is not bound by need-to-know, only by
    scopes, and is audited as such. `break_glass` holds the reason stated for an emergency read.
    """

    client_id: str
    agency: str | None
    scopes: Scopes
    operator: bool = False
    purpose: str = "CAREMGT"  # v3 ActReason purpose of use recorded in the audit trail
    break_glass: str | None = None
    address: str | None = None  # the network address the request came from

    def with_request(self, address: str | None, break_glass: str | None) -> Principal:
        """Return the principal of one request (its address and any break-glass reason)."""
        return replace(self, address=address, break_glass=break_glass)


# The server itself, for its own writes (published profiles, involvements it opens).
SYSTEM = Principal("cradle", None, Scopes.everything(), operator=True, purpose="HOPERAT")
# Every caller when authentication is switched off (loopback development only).
UNAUTHENTICATED = Principal("anonymous", None, Scopes.everything(), operator=True,
                            purpose="HOPERAT")
