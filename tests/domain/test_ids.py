"""Identifiers sort in the order they were made, even within one millisecond."""

from recado.ids import new_id


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
