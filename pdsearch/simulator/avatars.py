"""Avatar URLs as PagerDuty serves them: Gravatar, keyed by the e-mail address."""

from __future__ import annotations

import hashlib


def avatar_url(email: str) -> str:
    digest = hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest()
    return f"https://secure.gravatar.com/avatar/{digest}.png?d=mm&r=PG"
