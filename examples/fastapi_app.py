"""The tutor graph inside your own FastAPI app: one thread per learner session, checkpointed in SQLite.

Run:   pip install -e . && uvicorn examples.fastapi_app:app --port 8000
Try:   curl -s -X POST localhost:8000/sessions -H 'content-type: application/json' \
            -d '{"learner_id": "ana", "problem_id": "gsm8k-sample-1"}'
       curl -s -X POST localhost:8000/sessions/<session_id>/messages -H 'content-type: application/json' \
            -d '{"learner_id": "ana", "text": "16 - 3 = 13"}'

The graph pauses (a LangGraph interrupt) whenever it waits for the learner; a message resumes it. Models come from
the usual settings (`PEDAGRAPH_MODEL`, `pedagraph.toml`); with none, the built-in `scripted` tutor answers.
"""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

from fastapi import FastAPI, HTTPException
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command
from pedagraph.graphs.tutor import Context, build_graph
from pydantic import BaseModel, Field

from pedagraph.errors import PedagraphError
from pedagraph.settings import ensure_home, load_settings


class NewSession(BaseModel):
    """A learner starts a problem."""

    learner_id: str = Field(min_length=1, max_length=128)
    problem_id: str = "gsm8k-sample-1"


class LearnerMessage(BaseModel):
    """A learner's message in a session."""

    learner_id: str = Field(min_length=1, max_length=128)
    text: str = Field(min_length=1, max_length=4000)


class TutorReply(BaseModel):
    """What the tutor said, and whether the problem is finished."""

    session_id: str
    reply: str
    done: bool


def create_app(checkpoint_path: str | None = None) -> FastAPI:
    """A FastAPI app serving the tutor graph, checkpointed in `checkpoint_path` (default: under PEDAGRAPH_HOME)."""
    path = checkpoint_path or str(ensure_home(load_settings()) / "fastapi-checkpoints.sqlite")
    saver = SqliteSaver(sqlite3.connect(path, check_same_thread=False))
    graph = build_graph(checkpointer=saver)
    api = FastAPI(title="pedagraph tutor")

    def run(session_id: str, learner_id: str, payload: Any) -> TutorReply:
        config = {"configurable": {"thread_id": session_id}}
        try:
            out = graph.invoke(payload, config, context=Context(learner_id=learner_id))
        except PedagraphError as exc:  # a wrong learner for the session, a bad problem id, ...
            raise HTTPException(status_code=400, detail=str(exc)) from None
        return TutorReply(session_id=session_id, reply=out["messages"][-1].content, done=bool(out.get("done")))

    @api.post("/sessions")
    def start(body: NewSession) -> TutorReply:
        """Start a session on a problem; the reply is the tutor's opening."""
        return run(uuid.uuid4().hex, body.learner_id, {"problem_id": body.problem_id})

    @api.post("/sessions/{session_id}/messages")
    def message(session_id: str, body: LearnerMessage) -> TutorReply:
        """Send the learner's message; the reply has passed the reveal gate."""
        state = graph.get_state({"configurable": {"thread_id": session_id}})
        if not state.values:
            raise HTTPException(status_code=404, detail=f"no session {session_id!r}")
        # waiting for the learner: resume the interrupt; the problem is finished: a question about it (review mode)
        payload = Command(resume=body.text) if state.next else {"question": body.text}
        return run(session_id, body.learner_id, payload)

    return api


app = create_app()
