"""`pedagraph users ...`: add, list, set the password of and remove accounts (see `pedagraph.accounts`)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pedagraph.accounts import ROLES, claim_learner, generate_password, get_account_store, unclaimed_learners
from pedagraph.errors import PedagraphError
from pedagraph.redact import register_secret

users_app = typer.Typer(help="Accounts of the apps: learners, teachers, admins.", no_args_is_help=True)
console = Console()


def read_password(generate: bool = True) -> tuple[str, bool]:
    """The password piped on stdin (first line), or a generated one when stdin is a terminal; (password, made)."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline().rstrip("\r\n")
        if line:
            register_secret(line)
            return line, False
        if not generate:
            raise PedagraphError("no password on stdin", hint="pipe one: echo 'long password' | pedagraph users ...")
    password = generate_password()
    register_secret(password)
    return password, True


@users_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Login name (letters, digits, . _ @ -).")],
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")] = "learner",
    display_name: Annotated[str, typer.Option(help="Name shown to teachers (default: the login name).")] = "",
    class_code: Annotated[str | None, typer.Option("--class", help="Join code of the learner's class.")] = None,
) -> None:
    """Add an account; the password is read from stdin, or generated and printed once."""
    if role not in ROLES:
        raise PedagraphError(f"unknown role {role!r}", hint=f"use one of: {', '.join(ROLES)}")
    password, made = read_password()
    account = get_account_store().add(name, role, password, display_name=display_name,
                                      class_code=class_code.strip().upper() if class_code else None)  # fmt: skip
    console.print(f"added {escape(account.name)} ({account.role})" +
                  (f", class {account.class_code}" if account.class_code else ""), highlight=False)  # fmt: skip
    if made:
        console.print(f"password (shown once): {password}", highlight=False, soft_wrap=True)


@users_app.command("list")
def list_(
    unclaimed: Annotated[bool, typer.Option("--unclaimed", help="List learner ids from before accounts existed, "
                                            "with no account yet (give them to one with `users claim`).")] = False,
) -> None:  # fmt: skip
    """List the accounts (never their passwords), or the learner ids no account has claimed."""
    if unclaimed:
        from datetime import UTC, datetime

        table = Table(title="learner records without an account")
        for col in ("learner id", "past problems", "last active (UTC)", "learner record"):
            table.add_column(col)
        for u in unclaimed_learners():
            last = datetime.fromtimestamp(u.last_active, UTC).strftime("%Y-%m-%d %H:%M") if u.last_active else ""
            table.add_row(escape(u.learner_id), str(u.problems), last, "yes" if u.has_record else "no")
        console.print(table)
        return
    table = Table(title="pedagraph accounts")
    for col in ("name", "role", "display name", "class"):
        table.add_column(col)
    for a in get_account_store().list():
        table.add_row(escape(a.name), a.role, escape(a.display_name), a.class_code or "")
    console.print(table)


@users_app.command("set-password")
def set_password(name: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Set a new password: read from stdin, or generated and printed once."""
    password, made = read_password()
    get_account_store().set_password(name, password)
    console.print(f"password of {escape(name)} changed", highlight=False)
    if made:
        console.print(f"password (shown once): {password}", highlight=False, soft_wrap=True)


@users_app.command("claim")
def claim(
    learner_id: Annotated[str, typer.Argument(help="The old learner id (from `users list --unclaimed`).")],
    name: Annotated[str, typer.Argument(help="The account that gets its records.")],
) -> None:
    """Give an account the records made before accounts existed: mastery, misconceptions, past problems."""
    console.print(escape(claim_learner(learner_id, name)), highlight=False, soft_wrap=True)


@users_app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Remove an account (the learner's past work stays in the learner store)."""
    get_account_store().remove(name)
    console.print(f"removed {escape(name)}", highlight=False)
