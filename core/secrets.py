"""Masking secrets (pillar values, well-known config lines) in anything shown or stored."""

import re
from typing import Any

MASK = "********"
# Secrets in well-known config lines are masked even when they did not come from pillar.
_SECRET_LINE = re.compile(r"(\b(?:auth_pass|password|passwd|token|secret)\b\s*[:=]?\s*)(\S+)", re.IGNORECASE)


def mask_text(text: str, secrets: list[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return _SECRET_LINE.sub(lambda m: m.group(1) + MASK, text)


def mask_data(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return mask_text(value, secrets)
    if isinstance(value, dict):
        return {k: mask_data(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_data(v, secrets) for v in value]
    return value
