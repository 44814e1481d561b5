"""The app's "Strategies" tab: audit a distilled strategy library (browse, approve, edit, delete, try retrieval).

Endpoints (also for `gradio_client`): `/strategies_list(library, approved_only)` -> table, entry choices, status;
`/strategies_show(library, entry)` -> details, strategy text; `/strategies_approve(library, entry, approved)`,
`/strategies_edit(library, entry, text)`, `/strategies_delete(library, entry)` -> table, choices, status;
`/strategies_try(library, situation, approved_only)` -> what a tutor would retrieve there (markdown).
"""

from __future__ import annotations

from typing import Any

import gradio as gr
from pedagraph.prompts import load_prompt
from pedagraph.ui.identity import endpoint, teacher_only

from pedagraph.accounts import Account, get_account_store
from pedagraph.errors import PedagraphError
from pedagraph.methods.distill.library import DEFAULT_LIBRARY, Strategy, StrategyLibrary

__all__ = ["build_strategies_tab", "library_rows"]

COLUMNS = ["id", "approved", "gain", "kind", "skill", "strategy", "edited", "provenance"]


def _library(name: str) -> StrategyLibrary:
    from pedagraph.memory import get_memory

    return StrategyLibrary(get_memory(), (name or DEFAULT_LIBRARY).strip() or DEFAULT_LIBRARY)


def _provenance(s: Strategy) -> str:
    p = s.provenance
    parts = [f"{k} {p[k]}" for k in ("coach", "tutor", "judge", "round", "scenario_id") if p.get(k) is not None]
    return "; ".join(parts)


def library_rows(entries: list[Strategy]) -> list[list[Any]]:
    """The table rows of a library's entries (best measured gain first)."""
    return [[s.id[:12], "yes" if s.approved else "no", round(s.gain, 3), s.kind, s.skill, s.strategy,
             "yes" if s.edited else "", _provenance(s)] for s in entries]  # fmt: skip


def _choices(entries: list[Strategy]) -> list[tuple[str, str]]:
    return [(f"{s.id[:12]} · {s.kind or '-'} · {s.strategy[:50]}", s.id) for s in entries]


def _listing(name: str, approved_only: bool, note: str = "") -> tuple[Any, Any, str]:
    try:
        entries = _library(name).all(approved_only=bool(approved_only))
    except PedagraphError as exc:
        return gr.skip(), gr.skip(), f"Error: {exc}"
    approved = sum(s.approved for s in entries)
    status = f"{len(entries)} strategies ({approved} approved) in library `{name or DEFAULT_LIBRARY}`."
    if not entries:
        status += (" The library is empty: strategies appear here once strategy distillation has written some "
                   "(the distillation graph or its evaluation suite, run by whoever runs this app).")  # fmt: skip
    return (gr.update(value=library_rows(entries)), gr.update(choices=_choices(entries), value=None),
            f"{note} {status}".strip())  # fmt: skip


def _list(name: str, approved_only: bool) -> tuple[Any, Any, str]:
    """List the library's entries."""
    return _listing(name, approved_only)


def _show(name: str, entry: str | None) -> tuple[str, str]:
    """One entry's details and its strategy text (to edit)."""
    if not entry:
        return "", ""
    try:
        s = _library(name).get(entry)
    except PedagraphError as exc:
        return f"Error: {exc}", ""
    before = f"{s.before:.3f}" if s.before is not None else "-"
    after = f"{s.after:.3f}" if s.after is not None else "-"
    edited = "; edited by a person" if s.edited else ""
    lines = [
        f"**Strategy** `{s.id}`: {s.strategy}", "", "**Situation** it was written for:", "", "```", s.situation, "```",
        "", f"**Measured gain** {s.gain:+.3f} (judge score {before} -> {after} on {s.n_verify} scenario(s)); "
        f"kind `{s.kind or '-'}`, skill `{s.skill or '-'}`; approved: {'yes' if s.approved else 'no'}{edited}.",
        "", f"**Provenance**: {_provenance(s) or '-'}.",
    ]  # fmt: skip
    return "\n".join(lines), s.strategy


def _act(account: Account, name: str, approved_only: bool, action: str, entry: str | None, text: str = ""
         ) -> tuple[Any, Any, str]:  # fmt: skip
    """Approve, withdraw, edit (withdraws the approval) or delete an entry; every change audited (who, when)."""
    if not entry:
        return gr.skip(), gr.skip(), "Pick a strategy first."
    lib = _library(name)
    try:
        if action == "approve":
            lib.approve(entry, True)
        elif action == "withdraw":
            lib.approve(entry, False)
        elif action == "edit":
            lib.edit(entry, text)
        else:
            lib.delete(entry)
    except PedagraphError as exc:
        return gr.skip(), gr.skip(), f"Error: {exc}"
    get_account_store().audit(account.name, f"strategy.{action}", f"{lib.name}/{entry}",
                              " ".join(str(text or "").split())[:300] if action == "edit" else "")  # fmt: skip
    done = {"approve": "Approved", "withdraw": "Approval withdrawn", "edit": "Saved (approve it again to use it)",
            "delete": "Deleted"}[action]  # fmt: skip
    return _listing(name, approved_only, f"{done}: {entry[:12]}.")


def _try(name: str, situation: str, approved_only: bool) -> str:
    """What a tutor would retrieve for a situation (with approval on, only approved strategies)."""
    if not (situation or "").strip():
        return "Describe a situation first (what the student said, their difficulty)."
    try:
        found = _library(name).retrieve(situation, approved_only=bool(approved_only))
    except PedagraphError as exc:
        return f"Error: {exc}"
    if not found:
        return "No strategy would be used here."
    return "\n".join(f"{i}. {s.strategy} (similarity {s.score or 0:.2f}, gain {s.gain:+.3f}, "
                     f"{'approved' if s.approved else 'not approved'})" for i, s in enumerate(found, 1))  # fmt: skip


def _action(action: str) -> Any:
    def act(account: Account, name: str, approved_only: bool, entry: str | None) -> tuple[Any, Any, str]:
        return _act(account, name, approved_only, action, entry)

    act.__name__ = f"strategies_{action}"
    return endpoint("teacher")(act)


@endpoint("teacher")
def _edit(account: Account, name: str, approved_only: bool, entry: str | None, text: str) -> tuple[Any, Any, str]:
    return _act(account, name, approved_only, "edit", entry, text)


def build_strategies_tab() -> None:
    """Add the "Strategies" tab to the gr.Blocks being built (call inside `with gr.Blocks()`)."""
    with gr.Tab("Strategies"):
        gr.Markdown(load_prompt("ui/strategies_intro"))
        with gr.Row():
            library = gr.Textbox(value=DEFAULT_LIBRARY, label="Library", elem_id="strategies-library")
            approved_only = gr.Checkbox(value=False, label="Only approved strategies (approval on)")
            refresh = gr.Button("Refresh", elem_id="strategies-refresh")
        status = gr.Markdown(elem_id="strategies-status")
        table = gr.Dataframe(headers=COLUMNS, interactive=False, wrap=True, elem_id="strategies-table")
        entry = gr.Dropdown(choices=[], label="Strategy", elem_id="strategies-entry")
        details = gr.Markdown(elem_id="strategies-details")
        text = gr.Textbox(label="Strategy text (edit, then save)", lines=3, elem_id="strategies-text")
        with gr.Row():
            approve = gr.Button("Approve", variant="primary", elem_id="strategies-approve")
            withdraw = gr.Button("Withdraw approval", elem_id="strategies-withdraw")
            save = gr.Button("Save edit", elem_id="strategies-save")
            delete = gr.Button("Delete", variant="stop", elem_id="strategies-delete")
        with gr.Accordion("Try retrieval", open=False):
            situation = gr.Textbox(label="Situation (what the student said; their difficulty)", lines=2)
            try_it = gr.Button("What would the tutor use?")
            found = gr.Markdown(elem_id="strategies-found")
        listing = [table, entry, status]
        refresh.click(teacher_only(_list), inputs=[library, approved_only], outputs=listing, api_name="strategies_list")
        approved_only.change(teacher_only(_list), inputs=[library, approved_only], outputs=listing,
                             api_visibility="private")  # fmt: skip
        entry.change(teacher_only(_show), inputs=[library, entry], outputs=[details, text], api_name="strategies_show")
        approve.click(_action("approve"), inputs=[library, approved_only, entry], outputs=listing,
                      api_name="strategies_approve")  # fmt: skip
        withdraw.click(_action("withdraw"), inputs=[library, approved_only, entry], outputs=listing,
                       api_name="strategies_withdraw")  # fmt: skip
        save.click(_edit, inputs=[library, approved_only, entry, text], outputs=listing, api_name="strategies_edit")
        delete.click(_action("delete"), inputs=[library, approved_only, entry], outputs=listing,
                     api_name="strategies_delete")  # fmt: skip
        try_it.click(teacher_only(_try), inputs=[library, situation, approved_only], outputs=[found],
                     api_name="strategies_try")  # fmt: skip
