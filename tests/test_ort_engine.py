"""The ONNX Runtime GenAI engine's generator pool (`pedagraph.llm.ort`): a stand-in runtime that records the cache."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pedagraph.llm import ort
from pedagraph.llm.ct2 import Sampling

VOCAB = 12


class FakeGenerator:
    """Holds the token ids a real generator's cache would; its logits favour (last token + 1) mod VOCAB.

    As in the runtime, logits exist only for the last token read: a rewind leaves none until tokens are appended;
    and a position is cached as a cold read would cache it (`exact`) only if it was read in a piece of two or more
    tokens after exact positions: the real runtime's one-token step computes slightly different keys and values.
    """

    def __init__(self, capacity: int = 10**9) -> None:
        self.held: list[int] = []
        self.exact: list[bool] = []
        self.fresh = False
        self.capacity = capacity

    def append_tokens(self, ids):
        assert len(ids) > 0
        alike = (len(ids) >= 2 or not self.held) and all(self.exact)
        self.held.extend(int(i) for i in ids)
        self.exact.extend([alike] * len(ids))
        assert len(self.held) <= self.capacity, "past the generator's max_length"
        self.fresh = True

    def rewind_to(self, n):
        assert 0 <= n <= len(self.held)
        del self.held[n:]
        del self.exact[n:]
        self.fresh = False

    def get_logits(self):
        assert self.fresh, "no logits: nothing was read since the rewind"
        row = np.zeros((1, 1, VOCAB), dtype=np.float32)
        row[0, 0, (self.held[-1] + 1) % VOCAB] = 5.0
        return row


def fake_model(eos: int = VOCAB - 1, context: int = 4096) -> ort.OrtModel:
    model = ort.OrtModel(None, None, "cpu", 0.0, context, frozenset({eos}), None, model=None)
    model._generator = FakeGenerator  # type: ignore[method-assign]
    return model


prompts = st.lists(st.integers(0, VOCAB - 2), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(prompts, st.integers(0, 6), st.booleans()), min_size=1, max_size=12),
    st.sampled_from([48, 4096]),
)
def test_every_call_sees_exactly_its_prompt_whatever_came_before(calls, context):
    """Any prompts and generations, dialogues among them: the generator used holds exactly the prompt, as a cold read
    would have cached it, never more than its capacity."""
    model = fake_model(context=context)
    saved, ort.HEADROOM = ort.HEADROOM, 3  # small, so that generators run out of room and are replaced
    last_prompt, last_out = [], []
    try:
        for tail, new, goes_on in calls:
            # a dialogue's next turn: the last prompt, the reply generated to it, then new words
            prompt = (last_prompt + last_out + tail)[-40:] if goes_on else tail
            slot = model._at(prompt)
            assert slot.generator.held == slot.ids == prompt
            assert all(slot.generator.exact), "reused what one-token steps cached: not what a cold read gives"
            assert len(model._pool) <= ort.POOL
            out = list(model.tokens(prompt, new, Sampling()))
            expected = []
            last = prompt[-1]
            for _ in range(new):
                last = (last + 1) % VOCAB
                if last == VOCAB - 1:
                    break
                expected.append(last)
            assert out == expected
            last_prompt, last_out = prompt, out
            holder = next(s for s in model._pool if s.ids[: len(prompt)] == prompt)
            assert holder.generator.held == holder.ids  # what was generated is cached too (but the last token)
    finally:
        ort.HEADROOM = saved


def test_a_dialogue_reads_only_its_new_turn_and_two_dialogues_keep_their_own_generators():
    model = fake_model()
    system = list(range(10)) * 3  # a shared system prompt (30 tokens)
    a, b = system + [1, 2, 3] * 20, system + [4, 5, 6] * 20
    model._at(a)
    model._at(b)
    assert len(model._pool) == 2  # b shares 30 of a's 90 tokens: rewinding a would discard more than it keeps
    read = model.read_tokens
    model._at(a + [7, 8, 9])
    assert model.read_tokens - read == 3  # only the new turn
    model._at(b + [9])
    assert model.read_tokens - read == 3 + 2  # one new token: the last two are read (see READ_AT_LEAST)
    model._at(b + [9])
    assert model.read_tokens - read == 3 + 2 + 2  # the same prompt again


def test_the_pool_is_bounded_and_the_least_recent_generator_goes():
    model = fake_model()
    made = []
    model._generator = lambda capacity: made.append(capacity) or FakeGenerator(capacity)  # type: ignore[method-assign]
    for start in range(ort.POOL + 2):
        model._at([start] * 30)
    assert len(model._pool) == ort.POOL
    assert sorted(s.ids[0] for s in model._pool) == list(range(2, ort.POOL + 2))
    assert len(made) == ort.POOL  # the least recent generator was emptied and kept: its cache had room
    model._at([1] * (30 + ort.HEADROOM))
    assert len(made) == ort.POOL + 1 and len(model._pool) == ort.POOL  # no room in the oldest: a new one replaced it


def test_sampling_is_seeded_and_nucleus_keeps_the_top_token():
    row = np.log(np.asarray([0.7, 0.2, 0.1], dtype=np.float32))
    draws = [ort._choice(row, Sampling(1.0, None, 3), np.random.default_rng(3)) for _ in range(2)]
    assert draws[0] == draws[1]
    rng = np.random.default_rng(0)
    assert {ort._choice(row, Sampling(1.0, 0.5, None), rng) for _ in range(50)} == {0}
    assert ort._choice(row, Sampling(), rng) == 0
