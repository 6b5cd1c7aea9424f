"""Shared fixtures. Database fixtures give every test a fresh, empty database on each
backend (SQLite file, the PostgreSQL and the MariaDB on this machine)."""
