"""Alembic environment of the canonical store.

Used programmatically (no alembic.ini): ``ledgerlink.store.db.alembic_config()`` sets
``script_location`` to this folder and passes an open connection in
``config.attributes["connection"]``. Without one, the URL comes from the
``sqlalchemy.url`` option or ``ledgerlink.config.store_url()``.
"""

from __future__ import annotations

from alembic import context

from ledgerlink.store.tables import metadata

config = context.config


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    from ledgerlink.config import store_url

    url = config.get_main_option("sqlalchemy.url") or store_url()
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return

    from ledgerlink.config import store_url
    from ledgerlink.store.db import make_engine

    engine = make_engine(config.get_main_option("sqlalchemy.url") or store_url())
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
