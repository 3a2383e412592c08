"""Acme settings: the credential and every DSN option (``acme://:TOKEN@default?sender=Shop``)."""

from __future__ import annotations

import attrs

from smsgate.spec import Secret


@attrs.frozen(kw_only=True)
class AcmeSettings:
    """``token`` comes from the DSN's password (token-only: ``acme://:TOKEN@default``); every
    other field is a DSN option of the same name, validated and converted by the core."""

    token: Secret = attrs.field(factory=lambda: Secret(""))
    sender: str | None = None
