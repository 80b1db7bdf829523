"""Identifiers sort in the order they were made, even within one millisecond."""

import os
import time

from recado.ids import new_id

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def test_ids_made_in_a_burst_are_strictly_increasing():
    ids = [new_id("msg") for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_ids_have_a_prefix_and_26_base32_characters():
    value = new_id("ct")
    prefix, _, rest = value.partition("_")
    assert prefix == "ct"
    assert len(rest) == 26
    assert set(rest) <= set("0123456789abcdefghjkmnpqrstvwxyz")


def test_the_time_part_is_the_millisecond_the_id_was_made():
    before = int(time.time() * 1000)
    value = new_id("msg").partition("_")[2]
    after = int(time.time() * 1000)
    number = 0
    for char in value:
        number = number * 32 + ALPHABET.index(char)
    assert before <= number >> 80 <= after


def test_a_forked_process_does_not_repeat_its_parents_ids():
    new_id("msg")  # the parent has random bytes in hand when it forks
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child reports through the pipe)
        os.write(write, ",".join(new_id("msg") for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    parents = [new_id("msg") for _ in range(50)]
    os.waitpid(child, 0)
    with os.fdopen(read, "rb") as pipe:
        childs = pipe.read().decode().split(",")
    assert len(childs) == 50
    # The 80 random bits are the last 16 characters: no id's may repeat across the two.
    assert not {i[-16:] for i in parents} & {i[-16:] for i in childs}
