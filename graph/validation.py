"""Input rules shared by every write path (API, import, demo data)."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

import phonenumbers

from graph.errors import Problem, invalid

HANDLE_RE = re.compile(r"^[A-Za-z0-9_]{3,30}$")
DISPLAY_NAME_MAX = 64
PLATFORM_ID_MAX = 128
TRUST_MIN, TRUST_MAX = 0, 1000


# Joiners are format characters too, but emoji sequences (👩‍👧) and several scripts need them.
_ALLOWED_FORMAT = frozenset("\u200c\u200d")


def has_control_chars(text: str, allow_newlines: bool = False) -> bool:
    """Control and format characters hide text or break clients; newlines only in bodies."""
    for ch in text:
        if (allow_newlines and ch in "\n\t") or ch in _ALLOWED_FORMAT:
            continue
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co"):
            return True
    return False


def check_text(
    field: str, value: str, *, min_len: int, max_len: int, allow_newlines: bool = False
) -> list[Problem]:
    """Length counted in characters after trimming; control characters refused."""
    if has_control_chars(value, allow_newlines=allow_newlines):
        return [invalid(field, f"{field} contains control characters")]
    length = len(value.strip())
    if length < min_len or length > max_len:
        return [invalid(field, f"{field} must be {min_len} to {max_len} characters")]
    return []


def check_handle(value: str) -> list[Problem]:
    if not HANDLE_RE.fullmatch(value):
        return [invalid("handle", "handle must be 3 to 30 letters, digits or underscores")]
    return []


def check_platform_id(field: str, value: str) -> list[Problem]:
    return check_text(field, value, min_len=1, max_len=PLATFORM_ID_MAX)


def check_trust_score(field: str, value: int | None) -> list[Problem]:
    if value is not None and not TRUST_MIN <= value <= TRUST_MAX:
        return [invalid(field, f"{field} must be between {TRUST_MIN} and {TRUST_MAX}")]
    return []


def normalize_e164(raw: str) -> str | None:
    """The number in E.164 form, or None when it is not a possible phone number."""
    text = raw.strip()
    if not text.startswith("+") or len(text) > 20:
        return None
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def phone_hash(pepper: bytes, e164: str) -> str:
    """Keyed hash: a leaked database does not give the numbers back without the pepper."""
    return hmac.new(pepper, e164.encode(), hashlib.sha256).hexdigest()
