"""Public identifiers: a type prefix and a time-ordered random part (ULID layout).

Time order keeps indexes append-mostly and makes cursor pagination by id follow creation
order; 80 random bits make ids unguessable across workspaces. Within one millisecond a
process increments the random part instead of drawing a new one, so ids it makes are
strictly increasing (the monotonic ULID rule): two events of one message always sort in
the order they happened.
"""

import os
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lowercase
_RANDOM_BITS = 80
_lock = threading.Lock()
_last = 0


def new_id(prefix: str) -> str:
    global _last
    with _lock:
        fresh = (int(time.time() * 1000) << _RANDOM_BITS) | int.from_bytes(os.urandom(10), "big")
        # Same millisecond (or a clock step back): continue just after the last id.
        value = fresh if fresh >> _RANDOM_BITS > _last >> _RANDOM_BITS else _last + 1
        _last = value
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"
