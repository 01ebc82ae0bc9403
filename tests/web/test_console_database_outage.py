"""The database failing under a console page (bench/faults.py restarts PostgreSQL under load):
the console answers with its own clean error page, never a traceback, and works again after."""

from django.db import OperationalError, connection


def outage(execute, sql, params, many, context):
    raise OperationalError("connection refused (simulated outage)")


def test_console_page_during_a_database_outage_is_the_clean_error_page(signed_in):
    signed_in.raise_request_exception = False  # as gunicorn: the handler answers, nothing raises
    with connection.execute_wrapper(outage):
        response = signed_in.get("/kms/keys")
    assert response.status_code == 500
    page = response.content.decode()
    assert "Internal error" in page and "Please try again" in page
    assert "Traceback" not in page and "OperationalError" not in page
    # The database is back: the same page works.
    assert signed_in.get("/kms/keys").status_code == 200


def test_anonymous_console_page_during_a_database_outage_still_redirects_to_sign_in(client):
    # No session cookie: nothing to read from the database before the redirect.
    with connection.execute_wrapper(outage):
        response = client.get("/kms/keys")
    assert response.status_code == 302
    assert response["Location"].startswith("/signin")
