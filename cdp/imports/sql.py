"""Set-based INSERTs for the import (and seed_demo): one statement per table and chunk."""

import orjson
from django.db import connection
from django.utils import timezone

VALUE_COLUMNS = ("text_value", "number_value", "datetime_value", "bool_value")


CONTACT_KEY_INDEX = "contact_unique_team_channel_ext"
PROBE_CONTACTS_SQL = (
    "SELECT c.external_id, c.customer_id FROM unnest(%s::varchar[]) AS k(external_id) "
    "CROSS JOIN LATERAL (SELECT external_id, customer_id FROM cdp_contact WHERE team_id = %s "
    "AND channel_id = %s AND external_id = k.external_id OFFSET 0) AS c"
)


def insert_rows(model, columns, *, returning=(), on_conflict=""):
    """INSERT many rows in one statement without building model instances; returns the RETURNING tuples.

    `columns` maps field names to a list (one value per row) or to one value for every row; the model's other
    fields take their defaults. On PostgreSQL the lists travel as one array parameter per column (unnest), so
    the statement and its parameters do not grow with the rows; other backends get multi-row VALUES, batched
    under their parameter limit. Rows come back in insertion order, as bulk_create also relies on.
    """
    fields = [model._meta.get_field(name) for name in columns]
    length = next(len(v) for v in columns.values() if isinstance(v, list))
    for f in model._meta.concrete_fields:
        if f not in fields and not f.primary_key:
            fields.append(f)
            auto = getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
            columns = {**columns, f.name: timezone.now() if auto else f.get_default()}
    quote = connection.ops.quote_name
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
    tail = f" {on_conflict}" if on_conflict else ""
    if returning:
        tail += " RETURNING " + ", ".join(quote(name) for name in returning)
    if connection.vendor == "postgresql":
        sql, params = _unnest(sql, fields, columns)
        with _server_bound_cursor() as cursor:
            cursor.execute(sql + tail, params)
            return cursor.fetchall() if returning else []
    values = [(f, columns[f.name]) for f in fields]
    rows = [
        [f.get_db_prep_save(v[i] if isinstance(v, list) else v, connection) for f, v in values] for i in range(length)
    ]
    batch = max(1, (connection.features.max_query_params or 999) // len(fields))
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    returned = []
    with connection.cursor() as cursor:
        for start in range(0, length, batch):
            part = rows[start : start + batch]
            cursor.execute(f"{sql}VALUES {', '.join([one] * len(part))}{tail}", [v for row in part for v in row])
            if returning:
                returned += cursor.fetchall()
    return returned


def _server_bound_cursor():
    """A cursor on Django's connection (same transaction, query log and execute wrappers) that sends parameters
    apart from the SQL. Django's default client-side binding quotes array parameters in Python, element by
    element, which costs more than the INSERT itself."""
    if connection.features.uses_server_side_binding:
        return connection.cursor()
    import psycopg

    connection.ensure_connection()
    cursor = psycopg.Cursor(connection.connection)
    return connection.make_debug_cursor(cursor) if connection.queries_logged else connection.make_cursor(cursor)


def _unnest(sql, fields, columns):
    """INSERT ... SELECT constants and unnest(one array per list column); JSON travels as text."""
    selected, constants, arrays, aliases, params = [], [], [], [], []
    for f in fields:
        value, is_json = columns[f.name], f.get_internal_type() == "JSONField"
        if not isinstance(value, list):
            selected.append(f"%s::{f.db_type(connection)}")
            constants.append(f.get_db_prep_save(value, connection))
            continue
        alias = f"c{len(arrays)}"
        aliases.append(alias)
        if is_json:
            value = [None if v is None else orjson.dumps(v).decode() for v in value]
        arrays.append(f"%b::{'text' if is_json else f.db_type(connection)}[]")
        params.append(value)
        selected.append(f"v.{alias}::jsonb" if is_json else f"v.{alias}")
    sql += f"SELECT {', '.join(selected)} FROM unnest({', '.join(arrays)}) AS v({', '.join(aliases)})"
    return sql, constants + params  # the SELECT list's constants come before the arrays
