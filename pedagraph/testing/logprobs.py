"""Test helper: a scripted reply that carries OpenAI-style first-token log-probabilities.

`ScriptedChatModel` / `StandInChatModel` return an `AIMessage` reply as given, metadata included, so a reply
function can hand the probability code a backend that "returns log-probabilities":

    StandInChatModel(reply_fn=lambda call: reply_with_probs("yes", {"yes": 0.8, "no": 0.2}))
"""

from __future__ import annotations

import math

from langchain_core.messages import AIMessage

__all__ = ["logprobs_metadata", "reply_with_probs"]


def logprobs_metadata(text: str, first: dict[str, float]) -> dict:
    """The `response_metadata["logprobs"]` ChatOpenAI gives: one entry per word, `first` as the first's candidates."""
    words = text.split(" ") if text else [""]
    entries = [
        {"token": (" " if i else "") + w, "logprob": 0.0, "bytes": None, "top_logprobs": []}
        for i, w in enumerate(words)
    ]
    ranked = sorted(first.items(), key=lambda kv: -kv[1])
    entries[0]["top_logprobs"] = [
        {"token": t, "logprob": math.log(p) if p > 0 else -1e4, "bytes": None} for t, p in ranked
    ]
    entries[0]["logprob"] = next((e["logprob"] for e in entries[0]["top_logprobs"] if e["token"] == words[0]), 0.0)
    return {"content": entries, "refusal": None}


def reply_with_probs(text: str, first: dict[str, float]) -> AIMessage:
    """An AIMessage saying `text` whose first token had the candidate probabilities `first`."""
    return AIMessage(content=text, response_metadata={"logprobs": logprobs_metadata(text, first)})
