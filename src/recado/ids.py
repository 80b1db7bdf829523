"""Public identifiers: a type prefix and a time-ordered random part (ULID layout).

Time order keeps indexes append-mostly and makes cursor pagination by id follow creation
order; 80 random bits make ids unguessable across workspaces. Within one millisecond a
process increments the random part instead of drawing a new one, so ids it makes are
strictly increasing (the monotonic ULID rule): two events of one message always sort in
the order they happened.
"""

import base64
import os
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lowercase
# base64's base32 alphabet, mapped onto Crockford's: the encoding then runs in C.
_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET.encode())
_RANDOM_BITS = 80
_lock = threading.Lock()
_last = 0
# Random bytes drawn 4,000 at a time: one os.urandom per id was a system call, and on the
# event loop's thread each one gave the GIL away to the database threads.
_random = b""


def _forget_random() -> None:
    # A forked child must not repeat its parent's bytes, nor continue its parent's last id.
    global _random, _last
    _random, _last = b"", 0


os.register_at_fork(after_in_child=_forget_random)


def new_id(prefix: str) -> str:
    global _last, _random
    with _lock:
        if len(_random) < 10:
            _random = os.urandom(4000)
        drawn, _random = _random[:10], _random[10:]
        fresh = (int(time.time() * 1000) << _RANDOM_BITS) | int.from_bytes(drawn, "big")
        # Same millisecond (or a clock step back): continue just after the last id.
        value = fresh if fresh >> _RANDOM_BITS > _last >> _RANDOM_BITS else _last + 1
        _last = value
    # 20 bytes are 32 base32 characters; the last 26 are the 130 low bits, as ULIDs write them.
    encoded = base64.b32encode(value.to_bytes(20, "big"))[6:].translate(_TO_CROCKFORD)
    return f"{prefix}_{encoded.decode()}"
