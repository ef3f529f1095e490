"""The one parser of Kubernetes timestamps, as the controller, core, probes and
plugin read them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from deploymentgate.timestamps import parse_timestamp, read_timestamp

NOON = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_the_api_servers_utc_form_and_offsets_parse() -> None:
    assert parse_timestamp("2026-11-29T12:00:00Z") == NOON
    assert parse_timestamp("2026-11-29T12:00:00.250Z") == NOON + timedelta(milliseconds=250)
    moment = parse_timestamp("2026-11-29T13:00:00+01:00")
    assert moment == NOON and moment.utcoffset() == timezone(timedelta(hours=1)).utcoffset(None)
    assert parse_timestamp("2026-11-29T12:00:00").tzinfo is None  # as written: no zone


def test_parse_refuses_what_is_no_time() -> None:
    with pytest.raises(ValueError):
        parse_timestamp("yesterday")


@pytest.mark.parametrize("value", [None, "", "soon", 1764417600, ["2026-11-29T12:00:00Z"]])
def test_read_gives_none_for_a_field_without_a_time(value: object) -> None:
    assert read_timestamp(value) is None


def test_read_keeps_a_datetime_and_parses_a_string() -> None:
    assert read_timestamp(NOON) is NOON
    assert read_timestamp("2026-11-29T12:00:00Z") == NOON
