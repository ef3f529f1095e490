"""Weight -> replica arithmetic of the replicas router."""

from __future__ import annotations

import pytest

from deploymentgate.core.replicas import Split, canary_replicas, drain, split


@pytest.mark.parametrize(
    ("total", "weight", "canary"),
    [
        # Any weight above 0 exposes at least one pod; 100 takes them all.
        (1, 10, 1),
        (1, 100, 1),
        (2, 10, 1),
        (2, 50, 1),
        (3, 10, 1),
        (3, 50, 2),  # 1.5 rounds half up
        (3, 66, 2),
        (4, 25, 1),
        (4, 50, 2),
        (5, 10, 1),
        (5, 50, 3),  # 2.5 rounds half up
        (10, 10, 1),
        (10, 15, 2),  # 1.5 rounds half up
        (10, 50, 5),
        (10, 99, 10),
        (10, 100, 10),
        (20, 1, 1),
        (20, 33, 7),
        (0, 50, 0),
        (10, 0, 0),
    ],
)
def test_canary_replicas_for_weight(total: int, weight: int, canary: int) -> None:
    assert canary_replicas(total, weight) == canary


@pytest.mark.parametrize(
    ("total", "weight", "expected"),
    [
        (10, 10, Split(primary=9, canary=1)),
        (10, 50, Split(primary=5, canary=5)),
        (10, 100, Split(primary=0, canary=10)),
        (4, 25, Split(primary=3, canary=1)),
        # Below 100% the stable revision keeps a pod even when rounding takes all.
        (1, 10, Split(primary=1, canary=1)),
        (10, 99, Split(primary=1, canary=10)),
        (2, 90, Split(primary=1, canary=2)),
        (1, 100, Split(primary=0, canary=1)),
        (0, 50, Split(primary=0, canary=0)),
    ],
)
def test_split_keeps_a_stable_pod_until_full_promotion(
    total: int, weight: int, expected: Split
) -> None:
    assert split(total, weight) == expected


@pytest.mark.parametrize("total", [1, 2, 3, 5, 7, 10, 20, 100])
def test_split_never_loses_capacity_and_grows_with_weight(total: int) -> None:
    previous = 0
    for weight in range(1, 101):
        share = split(total, weight)
        assert share.primary + share.canary >= total
        assert share.canary >= previous
        previous = share.canary
    assert split(total, 100) == Split(primary=0, canary=total)


@pytest.mark.parametrize(
    ("share", "actual"),
    [(Split(9, 1), 10), (Split(5, 5), 50), (Split(1, 1), 50), (Split(0, 3), 100), (Split(0, 0), 0)],
)
def test_actual_weight_is_the_share_of_pods(share: Split, actual: int) -> None:
    assert share.actual_weight == actual


@pytest.mark.parametrize(
    ("total", "stable_ready", "canary_now", "expected"),
    [
        (10, 0, 10, 10),  # nothing ready on stable yet: keep every canary pod
        (10, 4, 10, 6),  # one canary pod goes per ready stable pod
        (10, 10, 10, 0),
        (10, 9, 1, 1),
        (10, 10, 1, 0),
        (10, 0, 3, 3),  # never grows
        (10, 12, 5, 0),
    ],
)
def test_drain_trades_canary_pods_for_ready_stable_pods(
    total: int, stable_ready: int, canary_now: int, expected: int
) -> None:
    assert drain(total, stable_ready, canary_now) == expected
