"""A/B tests of a campaign: who gets which variant, and which variant won.

Assignment is a pure function of (campaign id, contact id): a hash maps every contact to a
point of [0, 1) that says, the same way every time, whether it is in the holdout (gets
nothing, the baseline), in the test share (split evenly between the variants), or in the
remainder (gets the winner once it is known). A re-run after a crash, or a contact who is
in two lists, lands in the same place.

The decision compares the variants on one metric, each a proportion of the variant's
recipients (messages of that variant), except revenue per recipient:
- `click_rate`, `conversion_rate`: higher wins; `opt_out_rate`: lower wins.
- a winner is *significant* when the leader beats every other variant in a two-proportion
  z-test at the chosen confidence, Bonferroni-corrected for the k - 1 comparisons;
- the probability of being best comes from Beta(1 + successes, 1 + failures) posteriors,
  integrated on a fixed grid (deterministic: the same figures every time);
- `revenue_per_recipient`: only sums are stored, not each recipient's revenue, so its
  variance is unknown and no test on revenue itself is honest. The leader is the variant
  with the most revenue per recipient, and it is significant only when it also leads on
  conversion rate with significance (its extra revenue comes from more buyers, which we can
  test), with the conversion figures reported.

When nothing is significant, `decide` still names the leader (the campaign sends it: some
variant must go to the remainder, and the leader is the best bet) with `significant` False,
so the report says the difference may be chance.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

MAX_VARIANTS = 5
GRID_POINTS = 4000
Group = Literal["holdout", "test", "remainder"]


class Metric(StrEnum):
    CLICK_RATE = "click_rate"
    CONVERSION_RATE = "conversion_rate"
    OPT_OUT_RATE = "opt_out_rate"
    REVENUE_PER_RECIPIENT = "revenue_per_recipient"

    @property
    def lower_wins(self) -> bool:
        return self is Metric.OPT_OUT_RATE


@dataclass(frozen=True)
class Split:
    """How an audience is divided: `test_share` of it split evenly over `variants`,
    `holdout_share` held out, the rest waits for the winner."""

    variants: int
    test_share: float
    holdout_share: float = 0.0

    def __post_init__(self) -> None:
        if not 2 <= self.variants <= MAX_VARIANTS:
            raise ValueError(f"an A/B test has 2 to {MAX_VARIANTS} variants")
        if not 0.0 < self.test_share <= 1.0:
            raise ValueError("test_share is more than 0 and at most 1")
        if not 0.0 <= self.holdout_share < 1.0:
            raise ValueError("holdout_share is at least 0 and less than 1")
        if self.test_share + self.holdout_share > 1.0 + 1e-12:
            raise ValueError("test_share and holdout_share together are at most 1")


@dataclass(frozen=True)
class Assignment:
    group: Group
    variant: int | None = None  # 0-based index into the variants, for the test group


def position(campaign_id: str, contact_id: str) -> float:
    """The contact's fixed point in [0, 1) for this campaign."""
    digest = hashlib.blake2b(f"{campaign_id}:{contact_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def assign(split: Split, campaign_id: str, contact_id: str) -> Assignment:
    """Holdout first, then the test share (variants side by side), then the remainder."""
    point = position(campaign_id, contact_id)
    if point < split.holdout_share:
        return Assignment("holdout")
    point -= split.holdout_share
    if point < split.test_share:
        index = min(int(point / split.test_share * split.variants), split.variants - 1)
        return Assignment("test", index)
    return Assignment("remainder")


# --- statistics ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Arm:
    """One variant's figures: `successes` of `trials` (clicks of recipients, say); for
    revenue, `revenue_micros` and the conversions that brought it as successes."""

    name: str
    trials: int
    successes: int
    revenue_micros: int = 0

    @property
    def rate(self) -> float:
        return self.successes / self.trials if self.trials else 0.0

    @property
    def revenue_per_trial(self) -> float:
        return self.revenue_micros / self.trials if self.trials else 0.0


def two_proportion_p_value(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test of x1/n1 against x2/n2.

    1.0 when it cannot tell (an empty arm, or no variation at all)."""
    if n1 <= 0 or n2 <= 0:
        return 1.0
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)
    if variance <= 0.0:
        return 1.0
    z = (x1 / n1 - x2 / n2) / math.sqrt(variance)
    return math.erfc(abs(z) / math.sqrt(2.0))


def probability_best(arms: Sequence[Arm], *, lower_wins: bool = False) -> list[float]:
    """P(each arm has the best true rate) under Beta(1 + x, 1 + n - x) posteriors.

    Integrated on a fixed grid that covers every posterior (10 standard deviations each
    side), so the answer is the same on every run; the figures sum to 1."""
    if not arms:
        return []
    shapes = [(1.0 + a.successes, 1.0 + max(0, a.trials - a.successes)) for a in arms]
    low, high = 1.0, 0.0
    for alpha, beta in shapes:
        mean = alpha / (alpha + beta)
        sd = math.sqrt(alpha * beta / ((alpha + beta) ** 2 * (alpha + beta + 1.0)))
        low, high = min(low, mean - 10.0 * sd), max(high, mean + 10.0 * sd)
    low, high = max(low, 0.0), min(high, 1.0)
    step = (high - low) / GRID_POINTS
    grid = [low + (i + 0.5) * step for i in range(GRID_POINTS)]
    densities: list[list[float]] = []
    cumulative: list[list[float]] = []
    for alpha, beta in shapes:
        logs = [(alpha - 1.0) * math.log(x) + (beta - 1.0) * math.log1p(-x) for x in grid]
        top = max(logs)
        weights = [math.exp(v - top) for v in logs]
        total = sum(weights)
        mass = [w / total for w in weights]  # probability of each grid cell
        densities.append(mass)
        running, cdf = 0.0, []
        for m in mass:
            cdf.append(running + m / 2.0)  # P(X < x) at the cell's midpoint
            running += m
        cumulative.append(cdf)
    result = []
    for i in range(len(arms)):
        chance = 0.0
        for cell in range(GRID_POINTS):
            others = 1.0
            for j in range(len(arms)):
                if j != i:
                    below = cumulative[j][cell]
                    others *= (1.0 - below) if lower_wins else below
            chance += densities[i][cell] * others
        result.append(chance)
    total = sum(result)
    return [r / total for r in result] if total > 0 else [1.0 / len(arms)] * len(arms)


@dataclass(frozen=True)
class Decision:
    """The outcome of a test. `winner` is the leader, significant or not."""

    metric: Metric
    winner: str | None
    significant: bool
    confidence: float
    p_value: float | None  # the largest corrected p-value of leader vs the others
    values: dict[str, float] = field(default_factory=dict)  # the metric per variant
    probability_best: dict[str, float] = field(default_factory=dict)
    explanation: str = ""


def decide(metric: Metric | str, arms: Sequence[Arm], confidence: float = 0.95) -> Decision:
    """Pick the winner of `arms` on `metric`; significant only at `confidence`.

    For proportion metrics each arm's successes are clicks, conversions or opt-outs; for
    revenue per recipient they are conversions and `revenue_micros` the revenue."""
    metric = Metric(metric)
    if not 0.5 <= confidence < 1.0:
        raise ValueError("confidence is at least 0.5 and less than 1")
    if not arms:
        return Decision(metric, None, False, confidence, None, explanation="no variants")
    revenue = metric is Metric.REVENUE_PER_RECIPIENT
    values = {a.name: (a.revenue_per_trial if revenue else a.rate) for a in arms}
    # Ties go to the first variant (A): a stable, documented choice.
    if metric.lower_wins:
        leader = min(arms, key=lambda a: values[a.name])
    else:
        leader = max(arms, key=lambda a: values[a.name])
    chances = probability_best(arms, lower_wins=metric.lower_wins)
    best = {a.name: p for a, p in zip(arms, chances, strict=True)}
    if len(arms) == 1:
        return Decision(metric, leader.name, False, confidence, None, values, best, "one variant")
    if any(a.trials == 0 for a in arms):
        return Decision(
            metric,
            leader.name,
            False,
            confidence,
            None,
            values,
            best,
            "a variant has no recipients yet: not significant",
        )
    others = [a for a in arms if a is not leader]
    worst_p = 0.0
    leads_everywhere = True
    for other in others:
        raw = two_proportion_p_value(leader.successes, leader.trials, other.successes, other.trials)
        worst_p = max(worst_p, min(1.0, raw * len(others)))
        if revenue:
            # The revenue leader must also lead on the tested conversion rate.
            leads_everywhere &= leader.rate > other.rate
        elif metric.lower_wins:
            leads_everywhere &= leader.rate < other.rate
        else:
            leads_everywhere &= leader.rate > other.rate
    significant = leads_everywhere and worst_p < 1.0 - confidence
    what = "conversion rate" if revenue else metric.value.replace("_", " ")
    if significant:
        text = (
            f"{leader.name} wins on {metric.value.replace('_', ' ')}: p = {worst_p:.4g} on "
            f"{what} against every other variant, below {1.0 - confidence:.4g}"
        )
    else:
        text = (
            f"not significant at {confidence:.0%} (p = {worst_p:.4g} on {what}); "
            f"{leader.name} leads and is sent, but the difference may be chance"
        )
    return Decision(metric, leader.name, significant, confidence, worst_p, values, best, text)
