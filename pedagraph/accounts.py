"""Accounts: who may use the apps, with which role, in which class; stored beside the learner data.

SQLite (`PEDAGRAPH_HOME/accounts.sqlite`) by default, PostgreSQL when `PEDAGRAPH_DATABASE_URL` is set (the same
switch as the learner store). Passwords are argon2 hashes (`argon2-cffi`); a password is never stored, logged or
shown except once when it is generated. Roles: `learner` (their own work), `teacher` (the learners of the classes
they own), `admin` (everyone). A class is a join code owned by a teacher; a learner belongs to one class.

The learner id of an account (`learner_id_of`) is what the learner store, the tutor and the copilot use for that
person, so one person has one learner record across the apps. The audit table records who changed what and when
(strategies, accounts, course material).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from pedagraph.errors import DataError

__all__ = [
    "ROLES",
    "Account",
    "AccountStore",
    "Unclaimed",
    "claim_learner",
    "generate_password",
    "get_account_store",
    "learner_id_of",
    "parse_roster",
    "unclaimed_learners",
]

ROLES = ("learner", "teacher", "admin")
Role = Literal["learner", "teacher", "admin"]
ACCOUNTS_FILE = "accounts.sqlite"
LEARNER_PREFIX = "user:"
MIN_PASSWORD = 8
MAX_ROSTER = 500
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_SETUP_LOCK = 0x70656461_6163  # one process at a time creates the tables (PostgreSQL advisory lock key)
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("not a password of anyone")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS accounts (name TEXT PRIMARY KEY, role TEXT NOT NULL, display_name TEXT NOT NULL, "
    "class_code TEXT, password_hash TEXT NOT NULL, created DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS classes (code TEXT PRIMARY KEY, teacher TEXT NOT NULL, title TEXT NOT NULL, "
    "created DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit (at DOUBLE PRECISION NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, "
    "target TEXT NOT NULL, detail TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sessions (token_hash TEXT PRIMARY KEY, app TEXT NOT NULL, name TEXT NOT NULL, "
    "created DOUBLE PRECISION NOT NULL, expires DOUBLE PRECISION NOT NULL)",
)
SESSION_SECONDS = 14 * 24 * 3600
"""How long a login lasts by default (`[ui] session_days` sets it for the server)."""


@dataclass(frozen=True)
class Account:
    """One account as the apps see it (never its password hash)."""

    name: str
    role: Role
    display_name: str
    class_code: str | None = None

    @property
    def learner_id(self) -> str:
        """The learner id of this person in the learner store, the tutor and the copilot."""
        return learner_id_of(self.name)

    @property
    def is_teacher(self) -> bool:
        """Teachers and admins use the teachers' app."""
        return self.role in ("teacher", "admin")


def learner_id_of(name: str) -> str:
    """The learner id an account's work is stored under."""
    return f"{LEARNER_PREFIX}{name}"


def check_name(name: Any) -> str:
    """Return a valid account name (letters, digits, `._@-`, at most 64) or raise one line."""
    text = str(name or "").strip()
    if not _NAME.fullmatch(text):
        hint = "use 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
        raise DataError(f"account name {text[:70]!r} is not valid", hint=hint)
    return text


def check_role(role: Any) -> Role:
    """Return a valid role or raise one line."""
    if role not in ROLES:
        raise DataError(f"unknown role {str(role)[:30]!r}", hint=f"use one of: {', '.join(ROLES)}")
    return role  # type: ignore[return-value]


def check_password(password: Any) -> str:
    """Return a usable password (at least 8 characters) or raise one line (the password is never echoed)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise DataError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise DataError("a password has at most 1024 characters")
    return password


def clean_display(text: Any, fallback: str) -> str:
    """A display name: printable, one line, at most 80 characters (the account name when empty)."""
    raw = " ".join("".join(ch for ch in str(text or "") if ch.isprintable()).split())[:80]
    return raw or fallback


def token_hash(token: str) -> str:
    """What the sessions table keeps of a login token: its SHA-256 (a token has 128 random bits or more)."""
    return hashlib.sha256(str(token).encode("utf-8")).hexdigest()


def generate_password() -> str:
    """A new random password (about 96 bits), for an account whose password is printed once."""
    return secrets.token_urlsafe(12)


def new_code() -> str:
    """A class join code: 8 letters and digits without look-alikes."""
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))


def parse_roster(text: str) -> list[tuple[str, str]]:
    """(name, display name) rows of a roster: CSV with `name[,display_name]` per line (a header line is skipped)."""
    rows: list[tuple[str, str]] = []
    try:
        lines = list(csv.reader((text or "").splitlines()))
    except csv.Error as exc:
        raise DataError(f"the roster is not readable CSV: {exc}") from None
    for i, row in enumerate(lines):
        cells = [c.strip() for c in row]
        if not cells or not cells[0] or (i == 0 and cells[0].lower() in ("name", "username", "login")):
            continue
        rows.append((check_name(cells[0]), clean_display(cells[1] if len(cells) > 1 else "", cells[0])))
    if len(rows) > MAX_ROSTER:
        raise DataError(f"the roster has {len(rows)} names; at most {MAX_ROSTER} at once")
    return rows


class Database:
    """One small SQLite file or one PostgreSQL database, with `?` placeholders either way (thread-safe)."""

    def __init__(self, path: str | Path | None = None, *, url: str | None = None) -> None:
        self._lock = threading.RLock()
        self.url = url
        if url is not None:
            from pedagraph.learner_pg import _psycopg

            self._conn: Any = _psycopg().connect(url, autocommit=True)
            self._mark = "%s"
        else:
            self.path = Path(path or ACCOUNTS_FILE)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA busy_timeout=30000")
            self._mark = "?"

    @classmethod
    def configured(cls, filename: str, home: str | Path | None = None) -> Database:
        """The configured database: PostgreSQL by `PEDAGRAPH_DATABASE_URL`, else `filename` in PEDAGRAPH_HOME."""
        if home is not None:
            return cls(Path(home).expanduser() / filename)
        from pedagraph.settings import ensure_home, load_settings

        settings = load_settings()
        if settings.database_url is not None:
            return cls(url=settings.database_url.get_secret_value())
        return cls(ensure_home(settings) / filename)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def tx(self) -> Iterator[None]:
        """One transaction (nested calls of this thread join it)."""
        with self._lock:
            if self.url is not None:
                with self._conn.transaction():
                    yield
            elif self._conn.in_transaction:
                yield
            else:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")

    def setup(self, statements: tuple[str, ...]) -> None:
        """Create tables once, also when several processes start at the same moment (one at a time in PostgreSQL)."""
        with self.tx():
            if self.url is not None:
                self.q("SELECT pg_advisory_xact_lock(?)", (_SETUP_LOCK,))
            for sql in statements:
                self.q(sql)

    def q(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; its rows (none for a write)."""
        with self._lock:
            cur = self._conn.execute(sql.replace("?", self._mark), args)
            return list(cur.fetchall()) if cur.description else []


class AccountStore:
    """Accounts, classes and the audit log in one SQLite file or one PostgreSQL database (thread-safe)."""

    def __init__(self, path: str | Path | None = None, *, url: str | None = None) -> None:
        self.db = Database(path, url=url)
        self.url = url
        self.db.setup(_SCHEMA)

    def close(self) -> None:
        """Close the database connection."""
        self.db.close()

    def _tx(self) -> Any:
        return self.db.tx()

    def _q(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.db.q(sql, args)

    # -- accounts

    def get(self, name: str) -> Account | None:
        """The account of a name, or None."""
        rows = self._q("SELECT name, role, display_name, class_code FROM accounts WHERE name = ?", (str(name),))
        return Account(*rows[0]) if rows else None

    def require(self, name: str) -> Account:
        """The account of a name, or a one-line error."""
        account = self.get(check_name(name))
        if account is None:
            raise DataError(f"no account {name!r}", hint="`pedagraph users list` shows them")
        return account

    def add(self, name: str, role: str, password: str, *, display_name: str = "", class_code: str | None = None,
            actor: str = "cli") -> Account:  # fmt: skip
        """Create an account (a teacher also gets their own class); a one-line error if the name is taken."""
        name, role = check_name(name), check_role(role)
        check_password(password)
        display = clean_display(display_name, name)
        try:
            return self._add(name, role, password, display, class_code, actor)
        except Exception as exc:
            if type(exc).__name__ in ("IntegrityError", "UniqueViolation"):  # made by another process just now
                raise DataError(f"account {name!r} exists already", hint="pick another name") from None
            raise

    def _add(self, name: str, role: Role, password: str, display: str, class_code: str | None,
             actor: str) -> Account:  # fmt: skip
        with self._tx():
            if self._q("SELECT 1 FROM accounts WHERE name = ?", (name,)):
                raise DataError(f"account {name!r} exists already", hint="pick another name, or `users remove` it")
            if class_code is not None and not self._q("SELECT 1 FROM classes WHERE code = ?", (class_code,)):
                raise DataError(f"no class with the code {class_code!r}")
            if role == "teacher" and class_code is None:
                class_code = new_code()
                self._q("INSERT INTO classes VALUES (?, ?, ?, ?)", (class_code, name, f"{display}'s class",
                                                                    time.time()))  # fmt: skip
            self._q("INSERT INTO accounts VALUES (?, ?, ?, ?, ?, ?)",
                    (name, role, display, class_code, _HASHER.hash(password), time.time()))  # fmt: skip
            self._audit(actor, "account.add", name, role)
        return Account(name, role, display, class_code)

    def list(self, role: str | None = None, class_codes: list[str] | None = None) -> list[Account]:
        """Accounts by name (optionally of one role, or in some classes)."""
        rows = self._q("SELECT name, role, display_name, class_code FROM accounts ORDER BY name")
        out = [Account(*r) for r in rows]
        if role is not None:
            out = [a for a in out if a.role == role]
        if class_codes is not None:
            out = [a for a in out if a.class_code in class_codes]
        return out

    def set_password(self, name: str, password: str, actor: str = "cli") -> None:
        """Replace an account's password."""
        check_password(password)
        self.require(name)
        with self._tx():
            self._q("UPDATE accounts SET password_hash = ? WHERE name = ?", (_HASHER.hash(password), name))
            self._q("DELETE FROM sessions WHERE name = ?", (name,))  # a new password logs every browser out
            self._audit(actor, "account.set-password", name, "")

    def remove(self, name: str, actor: str = "cli") -> None:
        """Delete an account (its learner record and work stay, under its learner id)."""
        self.require(name)
        with self._tx():
            self._q("DELETE FROM accounts WHERE name = ?", (name,))
            self._q("DELETE FROM sessions WHERE name = ?", (name,))
            self._audit(actor, "account.remove", name, "")

    def verify(self, name: str, password: str) -> Account | None:
        """The account if the password is right, else None (the same work for unknown names)."""
        rows = self._q("SELECT password_hash FROM accounts WHERE name = ?", (str(name or "").strip(),))
        stored = rows[0][0] if rows else _DUMMY_HASH
        try:
            _HASHER.verify(stored, str(password or ""))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if not rows:
            return None
        if _HASHER.check_needs_rehash(stored):
            with self._tx():
                self._q("UPDATE accounts SET password_hash = ? WHERE name = ?", (_HASHER.hash(password), name))
        return self.get(str(name).strip())

    # -- classes

    def classes_of(self, teacher: str) -> list[str]:
        """The class codes a teacher owns."""
        return [r[0] for r in self._q("SELECT code FROM classes WHERE teacher = ? ORDER BY created", (teacher,))]

    def class_exists(self, code: str) -> bool:
        """Whether a class code is in use."""
        return bool(self._q("SELECT 1 FROM classes WHERE code = ?", (str(code or "").strip().upper(),)))

    def learners_of(self, account: Account) -> list[Account]:
        """The learners a teacher may see (their classes'), every learner for an admin, none for a learner."""
        if account.role == "admin":
            return self.list(role="learner")
        if account.role != "teacher":
            return []
        return self.list(role="learner", class_codes=self.classes_of(account.name))

    def teaches(self, teacher: Account, learner_name: str) -> bool:
        """Whether a learner account is in one of the teacher's classes (an admin teaches everyone)."""
        learner = self.get(learner_name)
        if learner is None or learner.role != "learner" or not teacher.is_teacher:
            return False
        return teacher.role == "admin" or learner.class_code in self.classes_of(teacher.name)

    # -- login sessions (only a hash of each token is stored)

    def open_session(self, app: str, token: str, name: str, seconds: float = SESSION_SECONDS) -> None:
        """Remember that a login token of an app belongs to an account until `seconds` from now."""
        now = time.time()
        with self._tx():
            self._q("DELETE FROM sessions WHERE expires < ?", (now,))
            self._q("DELETE FROM sessions WHERE token_hash = ?", (token_hash(token),))
            self._q("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)", (token_hash(token), app, name, now, now + seconds))

    def session_user(self, app: str, token: str | None) -> str | None:
        """The account a login token of an app belongs to, if it is not expired, revoked or of a removed account."""
        if not token:
            return None
        rows = self._q("SELECT s.name FROM sessions s JOIN accounts a ON a.name = s.name WHERE s.token_hash = ? "
                       "AND s.app = ? AND s.expires >= ?", (token_hash(token), app, time.time()))  # fmt: skip
        return rows[0][0] if rows else None

    def session_hashes(self, app: str) -> list[tuple[str, str]]:
        """(token hash, account) of an app's live sessions."""
        rows = self._q("SELECT token_hash, name FROM sessions WHERE app = ? AND expires >= ?", (app, time.time()))
        return [(r[0], r[1]) for r in rows]

    def revoke_session(self, token: str | None = None, *, hashed: str | None = None) -> None:
        """Forget one login (by its token, or by the hash the sessions table keeps)."""
        key = hashed if hashed is not None else token_hash(token or "")
        with self._tx():
            self._q("DELETE FROM sessions WHERE token_hash = ?", (key,))

    def revoke_sessions(self, name: str) -> int:
        """Log an account out of every browser; how many logins went."""
        with self._tx():
            count = int(self._q("SELECT COUNT(*) FROM sessions WHERE name = ?", (name,))[0][0])
            self._q("DELETE FROM sessions WHERE name = ?", (name,))
        return count

    # -- audit

    def _audit(self, actor: str, action: str, target: str, detail: str) -> None:
        self._q("INSERT INTO audit VALUES (?, ?, ?, ?, ?)", (time.time(), actor, action, target, detail[:500]))

    def audit(self, actor: str, action: str, target: str, detail: str = "") -> None:
        """Record who did what to which record (the time is now)."""
        with self._tx():
            self._audit(actor, action, target, detail)

    def audit_log(self, target: str | None = None, limit: int = 200) -> list[tuple[float, str, str, str, str]]:
        """The latest audit rows (at, actor, action, target, detail), newest first."""
        if target is None:
            rows = self._q("SELECT at, actor, action, target, detail FROM audit ORDER BY at DESC LIMIT ?", (limit,))
        else:
            rows = self._q("SELECT at, actor, action, target, detail FROM audit WHERE target = ? ORDER BY at DESC "
                           "LIMIT ?", (target, limit))  # fmt: skip
        return [tuple(r) for r in rows]  # type: ignore[misc]

    def counts(self) -> dict[str, int]:
        """Rows per table (tests compare them before and after a refused call)."""
        return {t: int(self._q(f"SELECT COUNT(*) FROM {t}")[0][0]) for t in ("accounts", "classes", "audit",
                                                                  "sessions")}


_STORES: dict[str, AccountStore] = {}
_STORES_LOCK = threading.Lock()


def get_account_store(home: str | Path | None = None) -> AccountStore:
    """The AccountStore of the configured PEDAGRAPH_HOME (or of PEDAGRAPH_DATABASE_URL), one per place."""
    url = None
    if home is None:
        from pedagraph.settings import ensure_home, load_settings

        settings = load_settings()
        if settings.database_url is not None:
            url = settings.database_url.get_secret_value()
        else:
            home = ensure_home(settings)
    key = url or str((Path(home).expanduser() / ACCOUNTS_FILE).resolve())  # type: ignore[arg-type]
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is None:
            store = _STORES[key] = AccountStore(key) if url is None else AccountStore(url=url)
        return store


# -- records made before accounts existed (anonymous `learner-…` ids)


@dataclass(frozen=True)
class Unclaimed:
    """A learner id with records but no account: its problems started in the app and when it was last active."""

    learner_id: str
    problems: int
    last_active: float | None
    has_record: bool


def _is_account_id(learner_id: str) -> bool:
    return learner_id.startswith(LEARNER_PREFIX) or learner_id.startswith("llm:")


def _record_has_data(raw: str | None) -> bool:
    """Whether a stored learner record holds any work (an empty record made on a first visit does not count)."""
    if raw is None:
        return False
    from pedagraph.learner import LearnerModel

    data = LearnerModel.from_data(json.loads(raw))
    return bool(any(s.has_evidence for s in data.skills.values()) or data.misconceptions or data.problems
                or data.demos or data.stats.sessions)  # fmt: skip


def _kind(raw: str) -> str:
    """The kind of a stored learner record (`human`, `llm_student`, ...; `unreadable` for a corrupt one)."""
    try:
        return str(json.loads(raw).get("kind", "human"))
    except (ValueError, AttributeError):
        return "unreadable"


class _LearnerData:
    """The learner records and the app's history of threads, in one connection: one transaction moves both.

    SQLite: the learner database with the history database attached; PostgreSQL: both live in the one database.
    """

    def __init__(self, home: Path | None = None) -> None:
        from pedagraph.learner import STORE_FILENAME, get_learner_store
        from pedagraph.ui.history import HISTORY_FILE, History

        url = None
        if home is None:
            from pedagraph.settings import ensure_home, load_settings

            settings = load_settings()
            url = settings.database_url.get_secret_value() if settings.database_url is not None else None
            home = None if url else ensure_home(settings)
        get_learner_store(home) if home is not None else get_learner_store()  # creates its table
        History(home).close()  # creates its tables
        if url is not None:
            self.db, self.hist = Database(url=url), ""
        else:
            self.db, self.hist = Database(Path(home) / STORE_FILENAME), "hist."  # type: ignore[arg-type]
            self.db.q("ATTACH DATABASE ? AS hist", (str(Path(home) / HISTORY_FILE),))  # type: ignore[arg-type]

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def record(self, learner_id: str) -> str | None:
        rows = self.db.q("SELECT data FROM learners WHERE learner_id = ?", (learner_id,))
        return rows[0][0] if rows else None

    def unclaimed(self) -> list[Unclaimed]:
        """Learner ids with records or threads and no account, most recently active first."""
        stored = {r[0] for r in self.db.q("SELECT learner_id FROM learners")}
        started = {r[0]: (int(r[1]), float(r[2])) for r in self.db.q(
            f"SELECT learner_id, COUNT(*), MAX(started) FROM {self.hist}ui_started GROUP BY learner_id")}  # fmt: skip
        out = []
        for learner_id in sorted(stored | set(started)):
            if _is_account_id(learner_id):
                continue
            raw = self.record(learner_id)
            if raw is not None and _kind(raw) != "human":
                continue  # a model "learner" (the ToM student)
            count, last = started.get(learner_id, (0, None))
            out.append(Unclaimed(learner_id, count, last, raw is not None))
        return sorted(out, key=lambda u: -(u.last_active or 0))

    def claim(self, old: str, new: str) -> tuple[bool, int]:
        """Move a learner's record and threads from `old` to `new` in one transaction: (record moved, threads)."""
        from pedagraph.learner import LearnerModel, _now

        with self.db.tx():
            raw = self.record(old)
            threads = int(self.db.q(f"SELECT COUNT(*) FROM {self.hist}ui_started WHERE learner_id = ?", (old,))[0][0])
            if raw is None and not threads:
                raise DataError(f"no records of the learner id {old!r}", hint="`pedagraph users list --unclaimed`")
            mine = self.record(new)
            if _record_has_data(mine) or self.db.q(f"SELECT 1 FROM {self.hist}ui_started WHERE learner_id = ?",
                                                    (new,)):  # fmt: skip
                raise DataError(f"the account's learner record {new!r} holds work already: nothing was moved",
                                hint="claim into an account that has not used the tutor yet")
            if raw is not None:
                model = LearnerModel.from_data(json.loads(raw)).model_copy(
                    update={"learner_id": new, "updated_at": _now()})  # fmt: skip
                model.revision += 1
                self.db.q("DELETE FROM learners WHERE learner_id = ?", (new,))
                stamp = model.updated_at if self.db.url is not None else model.updated_at.isoformat()
                self.db.q("INSERT INTO learners (learner_id, schema_version, updated_at, data) VALUES (?, ?, ?, ?)",
                          (new, model.schema_version, stamp, model.model_dump_json()))
                self.db.q("DELETE FROM learners WHERE learner_id = ?", (old,))
            self.db.q(f"UPDATE {self.hist}ui_started SET learner_id = ? WHERE learner_id = ?", (new, old))
            self.db.q(f"DELETE FROM {self.hist}ui_current WHERE learner_id = ?", (new,))
            self.db.q(f"UPDATE {self.hist}ui_current SET learner_id = ? WHERE learner_id = ?", (new, old))
        return raw is not None, threads


def unclaimed_learners(home: Path | None = None) -> list[Unclaimed]:
    """Learner ids with records but no account (from before accounts existed), most recently active first."""
    data = _LearnerData(home)
    try:
        return data.unclaimed()
    finally:
        data.close()


def claim_learner(old_id: str, name: str, *, actor: str = "cli", home: Path | None = None) -> str:
    """Give an account the records of an anonymous learner id: mastery, misconceptions, observations, threads.

    The learner record and the app's thread history move in one transaction; refused (one line, nothing moved)
    when the id is unknown or already an account's, or when the account's own record holds work. The learner's
    episodes and notes in the retrieval memory are relabelled after it. Returns a one-line summary.
    """
    store = get_account_store(home)
    account = store.require(name)
    old = str(old_id or "").strip()
    if not old or _is_account_id(old):
        raise DataError(f"{old[:70]!r} is not an anonymous learner id", hint="`pedagraph users list --unclaimed`")
    data = _LearnerData(home)
    try:
        moved, threads = data.claim(old, account.learner_id)
    finally:
        data.close()
    relabelled = _relabel_memory(old, account.learner_id, home)
    store.audit(actor, "account.claim", account.name, f"{old}: record {moved}, threads {threads}, memory {relabelled}")
    return (f"{account.name} now has the work of {old}: " + ("learner record, " if moved else "") +
            f"{threads} past problem(s), {relabelled} memory entr{'y' if relabelled == 1 else 'ies'}")  # fmt: skip


def _relabel_memory(old: str, new: str, home: Path | None) -> int:
    """Give a learner's episodes and notes (retrieval memory) to their new learner id; how many."""
    from pedagraph.memory import get_memory
    from pedagraph.memory.store import PRIVATE

    memory = get_memory(home)
    if not memory.chroma_dir.exists():
        return 0
    count = 0
    for collection in PRIVATE:
        hits = memory.get(collection, learner_id=old)
        if hits:
            memory.collection(collection).update(
                ids=[h.id for h in hits], metadatas=[{**h.metadata, "learner_id": new} for h in hits])  # fmt: skip
            count += len(hits)
    return count
