"""The admin commands of the CLI: ``users`` (accounts for the app) and ``db`` (backup and restore).

Parsers and handlers only; the logic lives in ``db.accounts`` and ``db.backup``. ``ctl_core.cli`` registers them.
"""
from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path


def add_db_parser(sub) -> None:
    """``db backup|restore FILE``: the human-evaluation database (logic in db.backup)."""
    d = sub.add_parser("db", help="back up or restore the human-evaluation database (SQLite; PostgreSQL: "
                       "pg_dump/pg_restore)")
    dsub = d.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    b = dsub.add_parser("backup", help="a consistent copy of the live database, safe while stylists are labelling")
    b.add_argument("file", type=Path)
    r = dsub.add_parser("restore", help="replace the database by a backup (the current one is kept beside it)")
    r.add_argument("file", type=Path)


def add_users_parser(sub) -> None:
    """``users add|list|disable|enable|reset``: accounts for the app (logic in db.accounts)."""
    u = sub.add_parser("users", help="accounts for the app: add, list, disable, enable, reset")
    usub = u.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    link = argparse.ArgumentParser(add_help=False)
    link.add_argument("--base-url", default=None, help="the address people open, for the invitation link "
                      "(default http://HOST:PORT, e.g. https://ctl.example.org behind a reverse proxy)")
    link.add_argument("--host", default="127.0.0.1", help="host of the invitation link (default 127.0.0.1)")
    link.add_argument("--port", type=int, default=8501, help="port of the invitation link (default 8501)")
    secret = argparse.ArgumentParser(add_help=False)
    g = secret.add_mutually_exclusive_group()
    g.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    g.add_argument("--invite", action="store_true", help="print a one-time link with which the person sets it")
    ua = usub.add_parser("add", parents=[link, secret], help="add an account (password prompted, read from stdin, "
                         "or set by the person through a one-time invitation link)")
    ua.add_argument("name")
    ua.add_argument("--role", required=True, metavar="admin|researcher|stylist")
    usub.add_parser("list", help="accounts, roles, status and last sign-in")
    ud = usub.add_parser("disable", help="stop an account from signing in (its judgments stay)")
    ud.add_argument("name")
    ue = usub.add_parser("enable", help="let a disabled account sign in again")
    ue.add_argument("name")
    ur = usub.add_parser("reset", parents=[link, secret],
                         help="clear sign-in waits and set a new password (or send a new invite)")
    ur.add_argument("name")


def run_users(ws, args, progress):
    from db import accounts, session
    engine = session.make_engine(ws.db_url)
    session.init_db(engine)
    cmd = args.users_command
    if cmd == "list":
        for a in accounts.list_accounts(engine):
            last = f"{a.last_sign_in_at:%Y-%m-%d %H:%M} UTC" if a.last_sign_in_at else "never"
            print(f"{a.name:<24} {a.role:<10} {a.status:<9} last sign-in {last}")
        for failed in accounts.failed_sign_ins(engine):  # the admin is told of wrong passwords (last 24 h)
            print(f"sign-in: {failed}")
        return
    if cmd in ("disable", "enable"):
        info = accounts.set_disabled(engine, args.name, disabled=cmd == "disable")
        print(f"{info.name}: {info.status}")
        return
    password = None if args.invite else _read_password(args.password_stdin)
    if cmd == "add":
        info = accounts.add_account(engine, args.name, args.role, password)
        print(f"added {info.name} ({info.role})")
        token = accounts.create_invitation(engine, info.name) if args.invite else None
    else:
        token = accounts.reset_account(engine, args.name, password)
        print(f"reset {accounts.get_account(engine, args.name).name}")
    if token is not None:
        base = args.base_url or f"http://{args.host}:{args.port}"
        print(f"one-time invitation link (valid {accounts.DEFAULT_CONFIG.invite_ttl.days} days): "
              f"{accounts.invite_url(token, base)}")


def run_db(ws, args, progress):
    from db import backup
    if args.db_command == "backup":
        info = backup.backup(ws.db_url, args.file)
        print(f"backed up to {info.path} ({info.bytes:,} bytes; "
              + ", ".join(f"{n} {t}" for t, n in info.tables.items()) + ")")
        return
    info, saved = backup.restore(ws.db_url, args.file)
    if saved is not None:
        print(f"the previous database is kept at {saved}")
    print(f"restored {info.path} (" + ", ".join(f"{n} {t}" for t, n in info.tables.items()) + ")")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ValueError("no password given; pass --password-stdin and pipe it in, or --invite for a link")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ; run the command again")
    return first
