"""The conversation-reusing CPU engine of in-process models: ONNX Runtime GenAI int8, without torch.

ONNX Runtime GenAI keeps a generator's key-value cache between calls and can rewind it (`rewind_to`), so a prompt
that extends an earlier one (a dialogue's next turn, a schema's fixed instructions) is read only from where the two
part. `OrtModel` keeps a few generators (`POOL`), each with the token ids it holds; a call takes the one sharing the
longest prefix with its prompt, rewinds it there and reads only the rest. Decoding is a step loop here: each step's
logits come back (`get_logits`), so greedy or seeded sampling, stop checks, first-token log-probabilities and the
grammar mask of constrained replies (llguidance) all happen between steps. The copy is built once by
`pedagraph.llm.convert` with ONNX Runtime GenAI's model builder; tokenising is `pedagraph.llm.ct2.ChatTokenizer`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pedagraph.errors import ModelError
from pedagraph.llm.ct2 import NativeModel, Sampling, chat_tokenizer, logsumexp, masked_choice

POOL = 6
"""Generators kept per model, each holding one conversation's cache."""
HEADROOM = 1536
"""Tokens a new generator's cache holds beyond its first call (the next turns of its conversation)."""
MIN_REUSE = 16
"""A shorter shared prefix is not worth rewinding a generator for: a fresh one reads the prompt."""

TINY_THREADS = 2
"""Threads of the tiny model on this engine (at most the cores there are). Measured on 2 cores, without spin-waiting:
a 300-token read at 560 tok/s against 412 on one thread, a decode step 17.1 against 18.9 ms; with a busy loop on the
other core 413 against 336 tok/s and 16.4 against 21.9 ms, so the second thread never loses. With spin-waiting it
did: 27.1 ms a step under load."""

READ_AT_LEAST = 2
"""Tokens of the shortest exact read: a read of two or more gives exactly a cold read's cache and logits; a one-token
step (each generated token) does not, so what one-token steps cached is never reused, and a prompt's last two tokens
are always read."""


@dataclass
class _Slot:
    """A generator, the token ids its cache holds, and how many leading ones a cold read would have cached alike."""

    generator: Any
    ids: list[int]
    capacity: int
    used: int = 0
    exact: int = 0


def _common(a: list[int], b: list[int]) -> int:
    """Length of the common prefix of two id lists."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _choice(row: Any, sampling: Sampling, rng: Any) -> int:
    """The greedy or a sampled token of a log-probability row (temperature, then nucleus `top_p`)."""
    import numpy as np

    if sampling.greedy:
        return int(np.argmax(row))
    scaled = row / float(sampling.temperature or 1.0)
    probs = np.exp(scaled - logsumexp(scaled))
    if sampling.top_p is not None and 0 < sampling.top_p < 1:
        order = np.argsort(-probs)
        keep = order[: int(np.searchsorted(np.cumsum(probs[order]), sampling.top_p) + 1)]
        kept = np.zeros_like(probs)
        kept[keep] = probs[keep]
        probs = kept
    return int(rng.choice(len(probs), p=probs / probs.sum()))


@dataclass
class OrtModel(NativeModel):
    """An ONNX Runtime GenAI model, its generators and tokenizer, shared by every role naming it; `lock` serialises."""

    model: Any = field(kw_only=True)
    engine: str = "onnxruntime"
    _pool: list[_Slot] = field(default_factory=list)
    _clock: int = 0
    reused_tokens: int = 0
    read_tokens: int = 0

    def _generator(self, capacity: int) -> Any:
        import onnxruntime_genai as og

        params = og.GeneratorParams(self.model)
        params.set_search_options(max_length=capacity, do_sample=False)
        return og.Generator(self.model, params)

    def _at(self, ids: list[int], room: int = 1) -> _Slot:
        """A generator whose cache holds exactly `ids` (its last position's logits ready), reusing the longest prefix.

        The generator's cache is allocated whole when it is made (`capacity` tokens: the first call's prompt and
        `room`, plus `HEADROOM` for the conversation's next turns): growing it step by step costs about 8% in
        decoding speed. A generator without room for this call is not reused.

        A generator is rewound only when that discards no more than it keeps, or when all `POOL` are in use: two
        dialogues that share a system prompt keep a generator each instead of rewinding one another's.

        The cache and logits are exactly a cold read's, whatever came before: only the slot's `exact` prefix is reused
        (what one-token steps cached, such as a reply's tokens, is read again with the next prompt), and at least the
        last `READ_AT_LEAST` prompt tokens are read, so the logits belong to this prompt.
        """
        if not ids:
            raise ModelError("empty prompt")
        need = len(ids) + room
        best, common = None, 0
        for slot in self._pool:
            if slot.capacity < need:
                continue
            shared = min(_common(slot.ids, ids), slot.exact)
            if shared > common:
                best, common = slot, shared
        worth = best is not None and (len(best.ids) - common <= common or len(self._pool) >= POOL)
        if best is None or common < MIN_REUSE or not worth:
            best, common = self._fresh(need), 0
        keep = min(common, max(len(ids) - READ_AT_LEAST, 0))
        if keep < len(best.ids):
            best.generator.rewind_to(keep)
        best.generator.append_tokens(ids[keep:])
        best.ids = list(ids)
        best.exact = len(ids)  # read in one piece of at least READ_AT_LEAST tokens after an exact prefix (or cold)
        self._clock += 1
        best.used = self._clock
        self.reused_tokens += keep
        self.read_tokens += len(ids) - keep
        return best

    def _fresh(self, need: int) -> _Slot:
        """An empty generator for `need` tokens: a new one while the pool has room, else the least recent one.

        The least recent is emptied and kept when it has room for the call and half the headroom: making a
        generator allocates its whole cache (25 ms for 2,000 tokens, measured) and its first read is slower.
        """
        if len(self._pool) >= POOL:
            oldest = min(self._pool, key=lambda s: s.used)
            if oldest.capacity >= min(self.context_length, need + HEADROOM // 2):
                if oldest.ids:
                    oldest.generator.rewind_to(0)
                oldest.ids, oldest.exact = [], 0
                return oldest
            self._pool.remove(oldest)
        capacity = min(self.context_length, need + HEADROOM)
        slot = _Slot(self._generator(capacity), [], capacity)
        self._pool.append(slot)
        return slot

    @staticmethod
    def _row(slot: _Slot) -> Any:
        """The log-probabilities of the token after the slot's ids."""
        import numpy as np

        row = np.asarray(slot.generator.get_logits(), dtype=np.float32).reshape(-1)
        return row - logsumexp(row)

    @staticmethod
    def _append(slot: _Slot, ids: list[int]) -> None:
        """Read generated tokens; the cache stays exact only while every piece read is at least READ_AT_LEAST long."""
        if ids:
            if len(ids) >= READ_AT_LEAST and slot.exact == len(slot.ids):
                slot.exact += len(ids)
            slot.generator.append_tokens(ids)
            slot.ids.extend(ids)

    def _steps(self, prompt: list[int], max_new: int, sampling: Sampling) -> Iterator[tuple[int, Any]]:
        """(token, log-probability row) per generated step; a token is read into the cache only when asked again."""
        import numpy as np

        rng = np.random.default_rng(sampling.seed)
        slot = self._at(prompt, max_new)
        for step in range(max_new):
            row = self._row(slot)
            token = _choice(row, sampling, rng)
            if token in self.eos_ids:
                return
            yield token, row
            if step + 1 < max_new:
                self._append(slot, [token])

    def tokens(self, prompt: list[int], max_new: int, sampling: Sampling) -> Iterator[int]:
        """Generated token ids, one by one (closing the iterator stops generation)."""
        for token, _ in self._steps(prompt, max_new, sampling):
            yield token

    def logprobs(self, prompt: list[int], max_new: int, sampling: Sampling, stop: Any) -> tuple[list[int], list[Any]]:
        """Generated ids and each step's log-probability row (numpy), stopping when `stop(ids)` says so."""
        ids: list[int] = []
        rows: list[Any] = []
        for token, row in self._steps(prompt, max_new, sampling):
            ids.append(token)
            rows.append(row)
            if stop(ids):
                break
        return ids, rows

    def next_logprobs(self, ids: list[int]) -> Any:
        """The log-probabilities of the token after `ids` (the row is unmasked)."""
        return self._row(self._at(ids))

    def constrained(
        self, prompt: list[int], max_new: int, sampling: Sampling, grammar: str, deadline: float, reserve: int = 0
    ) -> tuple[list[int], str]:
        """Token ids that the grammar accepts: each step's logits are masked by the grammar before the choice.

        Tokens the grammar forces are taken without a model step. When only `reserve` tokens of the budget are left,
        the object is closed soonest (`close`). Returns the ids and why decoding ended ("stop", "length", "timeout").
        """
        import llguidance
        import numpy as np

        matcher = llguidance.LLMatcher(self.grammar_tokenizer(), grammar)
        if matcher.is_error():
            raise ModelError(f"the structured-output grammar was refused: {matcher.get_error()[:300]}")
        rng = np.random.default_rng(sampling.seed)
        out: list[int] = []
        pending: list[int] = []
        free = max(max_new - reserve, 1)
        slot = self._at(prompt, max_new)
        while len(out) < free:
            if matcher.is_stopped():
                return out, "stop"
            if time.monotonic() >= deadline:
                return out, "timeout"
            forced = matcher.compute_ff_tokens()[: max_new - len(out)]
            if forced:
                matcher.consume_tokens(forced)
                out.extend(forced)
                pending.extend(forced)
                continue
            self._append(slot, pending)
            pending = []
            token = masked_choice(matcher, self._row(slot), sampling, rng)
            if token is None or token in self.eos_ids:
                break
            matcher.consume_token(token)
            out.append(token)
            pending.append(token)
        if not matcher.is_stopped() and not matcher.is_accepting():
            if self.close(matcher, prompt, out, max_new, sampling, rng, deadline):
                return out, "timeout"
        return out, "stop" if matcher.is_stopped() or matcher.is_accepting() else "length"

    def forget(self) -> None:
        """Drop every generator and its cache (the next call reads its whole prompt)."""
        self._pool.clear()

    def drop(self) -> None:
        """Free the generators and the model (before the interpreter exits)."""
        self._pool.clear()
        self.model = None


def load_ort(ref: Any, model_dir: Path, hf_dir: Path, threads: int | None) -> OrtModel:
    """Load a converted model with ONNX Runtime GenAI (int8 on the CPU) and its tokenizer."""
    start = time.perf_counter()
    try:
        import onnxruntime_genai as og

        config = og.Config(str(model_dir))
        # each generator's cache is allocated whole for its capacity (see `OrtModel._at`)
        overlay: dict[str, Any] = {"search": {"past_present_share_buffer": True}}
        # no spin-waiting: a waiting thread sleeps, so a busy machine does not make a second thread a loss
        options: dict[str, Any] = {"session.intra_op.allow_spinning": "0", "inter_op_num_threads": 1}
        if threads:
            options["intra_op_num_threads"] = int(threads)
        overlay["model"] = {"decoder": {"session_options": options}}
        config.overlay(json.dumps(overlay))
        model = og.Model(config)
        genai = json.loads((model_dir / "genai_config.json").read_text())
    except Exception as exc:  # noqa: BLE001 - the runtime raises plain RuntimeErrors
        raise ModelError(f"cannot load the ONNX copy {model_dir}: {' '.join(str(exc).split())[:300]}") from None
    tokenizer, eos = chat_tokenizer(ref, hf_dir, genai.get("model", {}).get("eos_token_id"))
    context = int(genai.get("model", {}).get("context_length") or 2048)
    return OrtModel(ref, tokenizer, "cpu", time.perf_counter() - start, context, eos, hf_dir, model=model,
                    threads=threads)  # fmt: skip
