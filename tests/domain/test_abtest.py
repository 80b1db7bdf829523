"""A/B tests: stable assignment, and decisions checked against numbers worked by hand."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recado.domain import abtest
from recado.domain.abtest import Arm, Split, assign, decide, probability_best
from recado.domain.abtest import two_proportion_p_value as p_value

# --- assignment ----------------------------------------------------------------------------


def test_a_contact_always_lands_in_the_same_group() -> None:
    split = Split(variants=3, test_share=0.3, holdout_share=0.1)
    first = [assign(split, "cmp_1", f"ct_{i}") for i in range(500)]
    again = [assign(split, "cmp_1", f"ct_{i}") for i in range(500)]
    assert first == again


def test_groups_follow_the_shares_and_the_test_splits_evenly() -> None:
    split = Split(variants=2, test_share=0.2, holdout_share=0.05)
    groups = Counter(
        (a.group, a.variant) for a in (assign(split, "cmp_x", f"ct_{i}") for i in range(40_000))
    )
    # 40,000 draws: each share within 4 standard deviations of its expectation.
    for key, share in (
        (("holdout", None), 0.05),
        (("test", 0), 0.10),
        (("test", 1), 0.10),
        (("remainder", None), 0.75),
    ):
        expected = 40_000 * share
        assert abs(groups[key] - expected) < 4 * math.sqrt(expected * (1 - share)), key


def test_another_campaign_shuffles_the_groups() -> None:
    split = Split(variants=2, test_share=0.5)
    a = [assign(split, "cmp_a", f"ct_{i}").variant for i in range(200)]
    b = [assign(split, "cmp_b", f"ct_{i}").variant for i in range(200)]
    assert a != b


def test_a_test_share_of_one_leaves_no_remainder() -> None:
    split = Split(variants=5, test_share=1.0)
    groups = {assign(split, "cmp", f"ct_{i}").group for i in range(1000)}
    assert groups == {"test"}


@pytest.mark.parametrize(
    ("variants", "test_share", "holdout"),
    [(1, 0.2, 0.0), (6, 0.2, 0.0), (2, 0.0, 0.0), (2, 1.2, 0.0), (2, 0.6, 0.5), (2, 0.2, 1.0)],
)
def test_impossible_splits_are_refused(variants: int, test_share: float, holdout: float) -> None:
    with pytest.raises(ValueError):
        Split(variants, test_share, holdout)


@given(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=30))
def test_every_position_is_in_the_unit_interval(campaign: str, contact: str) -> None:
    assert 0.0 <= abtest.position(campaign, contact) < 1.0


# --- the z-test, worked by hand ------------------------------------------------------------


def test_p_value_of_10_against_13_percent_of_1000_each() -> None:
    # pooled p = 230/2000 = 0.115; se = sqrt(0.115 * 0.885 * (2/1000)) = 0.0142671;
    # z = 0.03 / 0.0142671 = 2.10274; two-sided p = 2 * (1 - Phi(2.10274)) = 0.035488
    assert p_value(100, 1000, 130, 1000) == pytest.approx(0.035488, abs=1e-6)


def test_p_value_of_equal_rates_is_one() -> None:
    assert p_value(50, 500, 100, 1000) == pytest.approx(1.0)


def test_p_value_is_symmetric() -> None:
    assert p_value(12, 200, 30, 210) == pytest.approx(p_value(30, 210, 12, 200))


def test_p_value_without_data_or_variation_says_nothing() -> None:
    assert p_value(0, 0, 5, 100) == 1.0
    assert p_value(0, 100, 0, 100) == 1.0
    assert p_value(100, 100, 100, 100) == 1.0


def test_p_value_of_a_large_clear_difference_is_tiny() -> None:
    # 5% vs 10% of 2000: pooled 0.075, se = sqrt(0.075 * 0.925 / 1000) = 0.0083292,
    # z = 0.05 / 0.0083292 = 6.0029: p = erfc(6.0029 / sqrt 2) = 1.94e-9
    assert p_value(100, 2000, 200, 2000) == pytest.approx(1.94e-9, rel=0.01)


# --- probability of being best -------------------------------------------------------------


def test_uniform_against_one_success_is_two_thirds() -> None:
    # A ~ Beta(1, 1) = U(0, 1), B ~ Beta(2, 1) with density 2x: P(B > A) = int 2x * x = 2/3
    chances = probability_best([Arm("A", 0, 0), Arm("B", 1, 1)])
    assert chances == pytest.approx([1 / 3, 2 / 3], abs=1e-4)


def test_identical_figures_split_the_chance_evenly() -> None:
    assert probability_best([Arm("A", 10, 5), Arm("B", 10, 5), Arm("C", 10, 5)]) == (
        pytest.approx([1 / 3] * 3, abs=1e-6)
    )


def test_probability_best_matches_the_normal_approximation_on_large_samples() -> None:
    # Posterior means 101/1002 and 131/1002, sd of the difference 0.014272: z = 2.096,
    # Phi(2.096) = 0.982
    chances = probability_best([Arm("A", 1000, 100), Arm("B", 1000, 130)])
    assert chances[1] == pytest.approx(0.982, abs=0.002)
    assert sum(chances) == pytest.approx(1.0)


def test_for_opt_outs_the_lowest_rate_is_best() -> None:
    chances = probability_best([Arm("A", 1000, 30), Arm("B", 1000, 10)], lower_wins=True)
    assert chances[1] > 0.99


def test_probability_best_is_the_same_on_every_run() -> None:
    arms = [Arm("A", 5000, 260), Arm("B", 5000, 240), Arm("C", 5000, 250)]
    assert probability_best(arms) == probability_best(arms)


# --- decisions -----------------------------------------------------------------------------


def test_a_significant_click_rate_winner_is_declared() -> None:
    decision = decide("click_rate", [Arm("A", 1000, 100), Arm("B", 1000, 130)])
    assert decision.winner == "B"
    assert decision.significant
    assert decision.p_value == pytest.approx(0.035488, abs=1e-6)
    assert decision.values == {"A": 0.1, "B": 0.13}


def test_a_small_difference_names_the_leader_but_says_not_significant() -> None:
    decision = decide("click_rate", [Arm("A", 1000, 100), Arm("B", 1000, 110)])
    assert decision.winner == "B"
    assert not decision.significant
    assert "not significant" in decision.explanation


def test_a_stricter_confidence_can_turn_a_win_into_chance() -> None:
    arms = [Arm("A", 1000, 100), Arm("B", 1000, 130)]
    assert decide("click_rate", arms, confidence=0.95).significant
    assert not decide("click_rate", arms, confidence=0.99).significant


def test_the_lowest_opt_out_rate_wins() -> None:
    decision = decide("opt_out_rate", [Arm("A", 1000, 30), Arm("B", 1000, 10)])
    assert decision.winner == "B" and decision.significant


def test_with_three_variants_the_leader_must_beat_each_after_correction() -> None:
    # Leader C (13%) vs A (10%): p = 0.035488, times 2 comparisons = 0.070977 > 0.05
    decision = decide(
        "conversion_rate", [Arm("A", 1000, 100), Arm("B", 1000, 100), Arm("C", 1000, 130)]
    )
    assert decision.winner == "C"
    assert decision.p_value == pytest.approx(0.070977, abs=1e-5)
    assert not decision.significant


def test_revenue_winner_must_also_win_on_conversions() -> None:
    # B earns more per recipient from the same number of buyers: not significant.
    same_buyers = decide(
        "revenue_per_recipient",
        [Arm("A", 1000, 50, 5_000_000_000), Arm("B", 1000, 50, 6_000_000_000)],
    )
    more_buyers = decide(
        "revenue_per_recipient",
        [Arm("A", 1000, 50, 5_000_000_000), Arm("B", 1000, 90, 9_000_000_000)],
    )
    assert same_buyers.winner == "B" and not same_buyers.significant
    assert more_buyers.winner == "B" and more_buyers.significant
    assert more_buyers.values["B"] == 9_000_000.0  # micros per recipient


def test_a_variant_without_recipients_is_never_significant() -> None:
    decision = decide("click_rate", [Arm("A", 0, 0), Arm("B", 100, 50)])
    assert decision.winner == "B" and not decision.significant


def test_ties_go_to_the_first_variant() -> None:
    assert decide("click_rate", [Arm("A", 100, 10), Arm("B", 100, 10)]).winner == "A"


def test_unknown_metric_or_confidence_is_refused() -> None:
    with pytest.raises(ValueError):
        decide("open_rate", [Arm("A", 1, 1)])
    with pytest.raises(ValueError):
        decide("click_rate", [Arm("A", 1, 1)], confidence=1.0)
