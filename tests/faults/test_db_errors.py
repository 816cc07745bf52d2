"""Regression: while Postgres shut down or started up, a request that reached it was answered 500.
asyncpg reports "the database system is shutting down / starting up" (SQLSTATE 57P03), "terminating
connection due to administrator command" (57P01) as plain driver errors, which control's
"database down" check did not recognise (found by the Postgres-restart fault scenario)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError

from us_control.db import is_database_down


class DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize("sqlstate", ["57P01", "57P02", "57P03", "08006", "08003"])
def test_postgres_shutting_down_or_starting_up_is_a_503_not_a_500(sqlstate: str) -> None:
    assert is_database_down(DBAPIError("SELECT 1", {}, DriverError(sqlstate)))


@pytest.mark.parametrize("sqlstate", ["23505", "22003", "42P01", ""])
def test_bad_data_and_bugs_stay_errors(sqlstate: str) -> None:
    assert not is_database_down(DBAPIError("SELECT 1", {}, DriverError(sqlstate)))
