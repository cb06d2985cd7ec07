"""The PostgreSQL server the benchmarks use, and a database of their own on it.

Each benchmark drops and recreates its database, so runs never see each other's rows; the
server comes from ``--server`` or ``BENCH_PG_URL``.
"""

from __future__ import annotations

import argparse
import os

import psycopg

DEFAULT_SERVER = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")


def add_server_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server", default=DEFAULT_SERVER, help="PostgreSQL server URL (default BENCH_PG_URL)"
    )


def recreate_database(name: str, server: str = DEFAULT_SERVER) -> str:
    """Drop and create database ``name`` on ``server``; returns its URL."""
    drop_database(name, server)
    server = server.rstrip("/")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


def drop_database(name: str, server: str = DEFAULT_SERVER) -> None:
    with psycopg.connect(f"{server.rstrip('/')}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
