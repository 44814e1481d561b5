"""The coach graph: transcripts in every form, refusals, (A) scores, (B) moments, (C) suggestions, the novelty check."""

from __future__ import annotations

import json

import pytest

from pedagraph.datasets import require
from pedagraph.errors import DataError
from pedagraph.llm import StandInChatModel
from pedagraph.methods.coach.coaching import (
    MAX_TRANSCRIPT_CHARS,
    MAX_TURNS,
    Suggestion,
    novelty_check,
    parse_transcript,
    teacher_moves,
)

LESSON = """Teacher: Today we share 12 cookies among 4 friends. What do you get?
Student: 3
Teacher: How did you get 3? Walk me through it.
Student: I split 12 into 4 groups because each friend gets the same, so 3 each.
Teacher: Great. Now 15 cookies among 4 friends.
Student: 4
Teacher: No, the answer is 3 with 3 left over.
Student: oh ok
"""


def coach(**kw):
    from pedagraph.graphs.coach import Context, build_graph

    graph = build_graph()  # the full state (the served `graph` shows a learner-facing view)

    return lambda inp: graph.invoke(inp, context=Context(**kw))


def test_transcripts_in_every_form_become_the_same_numbered_turns():
    plain = parse_transcript(LESSON)
    assert [t.speaker for t in plain] == ["teacher", "student"] * 4 and [t.n for t in plain] == list(range(1, 9))
    rows = [{"speaker": t.speaker.capitalize(), "text": t.text} for t in plain]
    as_json = parse_transcript(json.dumps(rows))
    as_csv = parse_transcript("speaker,text\n" + "\n".join(f'{r["speaker"]},"{r["text"]}"' for r in rows))
    mathdial = parse_transcript("|EOM|".join(f'{r["speaker"]}: {r["text"]}' for r in rows))
    for other in (as_json, as_csv, mathdial):
        assert [(t.speaker, t.text) for t in other] == [(t.speaker, t.text) for t in plain]


def test_a_mathdial_record_keeps_its_move_labels():
    path = require("mathdial/test.jsonl").path
    record = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    out = coach()({"mathdial": record})
    teacher = [t for t in out["turns"] if t["speaker"] == "teacher"]
    assert teacher and all(t["label"] in ("focus", "probing", "telling", "generic") for t in teacher)
    assert not any(t["text"].startswith("(") for t in teacher)


@pytest.mark.parametrize(
    ("text", "fmt", "says"),
    [
        ("", "auto", "empty"),
        ("   \n\n ", "auto", "empty"),
        ("Teacher: hi\n" * (MAX_TRANSCRIPT_CHARS // 12 + 1), "auto", "limit"),
        ("\n".join(f"{'Teacher' if i % 2 else 'Student'}: turn {i}" for i in range(MAX_TURNS + 2)), "auto", "turns"),
        ('[{"speaker": "Teacher", "text": "hi"', "auto", "not valid JSON"),
        ('{"lesson": 3}', "auto", "list of turns"),
        ("who,what\nTeacher,hi\n", "csv", "speaker"),
        ("just some words with no labels at all", "auto", "no speaker labels"),
        ("Student: 3\nStudent: 4", "auto", "no teacher turn"),
    ],
)  # fmt: skip
def test_empty_huge_and_malformed_transcripts_are_refused_with_one_clear_line(text, fmt, says):
    with pytest.raises(DataError) as err:
        coach()({"transcript": text, "format": fmt})
    message = str(err.value)
    assert says in message and "\n" not in message and len(message) < 200


def test_the_novelty_check_drops_what_the_teacher_already_does():
    turns = parse_transcript(LESSON)
    already = Suggestion(turn=3, move="press_reasoning", suggestion="Ask the student how they got 3.")
    new = Suggestion(turn=7, move="press_reasoning", suggestion="Ask how they got 4 before correcting.")
    other_move = Suggestion(turn=3, move="invite_others", suggestion="Ask the class whether they agree.")
    quoted = Suggestion(turn=5, move="compare", suggestion='Say "now 15 cookies among 4 friends" to compare them.')
    kept, dropped = novelty_check(turns, [already, new, other_move, quoted])
    assert kept == [new, other_move]
    assert [(d["turn"], d["reason"], d["done_at"]) for d in dropped] == [(3, "already_done", 3), (5, "already_said", 5)]
    assert "turn 3" in dropped[0]["why"] and "How did you get 3?" in dropped[0]["evidence"]


def test_the_scripted_coach_scores_finds_and_suggests_from_the_turns():
    out = coach()({"transcript": LESSON})
    scores = {s["code"]: s for s in out["scores"]}
    assert set(scores) == {"CLPC", "CLINSTD", "REMED", "SMQR"}
    assert all(1 <= s["score"] <= s["scale"] for s in scores.values())
    assert 3 in scores["CLINSTD"]["evidence"] and 4 in scores["SMQR"]["evidence"] and 7 in scores["REMED"]["evidence"]
    findings = {(f["kind"], f["turn"]) for f in out["findings"]}
    assert ("highlight", 3) in findings and ("missed", 7) in findings
    assert any(s["turn"] == 7 for s in out["suggestions"])
    assert out["sources"] == {"scores": "rules", "findings": "rules", "suggestions": "rules"}
    report = out["report"]
    parts = ("## A. Scores", "## B. Highlights", "## B. Missed opportunities", "## C. Suggestions", "Novelty check")
    assert all(part in report for part in parts)


def test_a_real_coach_model_is_checked_against_the_transcript_and_filtered_for_novelty():
    def reply(call):
        if call.schema_name == "ModelScores":
            return {"scores": [{"code": "CLINSTD", "score": 6, "evidence": [3], "reason": "asks how"},
                               {"code": "SMQR", "score": 9, "evidence": [4], "reason": "off the scale"},
                               {"code": "REMED", "score": 2, "evidence": [99], "reason": "no such turn"}]}  # fmt: skip
        if call.schema_name == "ModelMoments":
            return {"highlights": [{"turn": 3, "reason": "presses for reasoning"}, {"turn": 4, "reason": "a student"}],
                    "missed": [{"turn": 7, "reason": "tells the answer"}]}  # fmt: skip
        if call.schema_name == "ModelSuggestions":
            return {"suggestions": [{"turn": 3, "move": "press_reasoning", "suggestion": "Ask how they got 3."},
                                    {"turn": 7, "move": "press_reasoning", "suggestion": "Ask how they got 4."},
                                    {"turn": 50, "move": "revoice", "suggestion": "No such turn."}]}  # fmt: skip
        return None

    model = StandInChatModel(reply_fn=reply)
    out = coach(coach_model=model)({"transcript": LESSON})
    scores = {s["code"]: s for s in out["scores"]}
    assert scores["CLINSTD"]["score"] == 6 and scores["CLINSTD"]["reason"] == "asks how"
    assert scores["SMQR"]["reason"] != "off the scale" and scores["REMED"]["evidence"] != [99]  # rules stand in
    assert [(f["kind"], f["turn"]) for f in out["findings"]] == [("highlight", 3), ("missed", 7)]  # turn 4: a student
    assert [s["turn"] for s in out["suggestions"]] == [7]
    assert len(out["dropped"]) == 1 and out["dropped"][0]["done_at"] == 3
    assert "1 of 2 suggestions dropped" in out["report"]
    assert out["sources"] == {"scores": "model; rules filled CLPC, REMED, SMQR", "findings": "model",
                              "suggestions": "model"}  # two scores were invalid, CLPC missing: the rules filled them
    transcript_seen = [c for c in model.calls if c.schema_name == "ModelSuggestions"][0]
    assert "3. Teacher: How did you get 3?" in (transcript_seen.system + transcript_seen.last_user)


def test_teacher_moves_reads_elicitation():
    assert "press_reasoning" in teacher_moves("Why do you think that?")
    assert "revoice" in teacher_moves("So you're saying we add them first?")
    assert "telling" in teacher_moves("No, the answer is 12.")
    assert not teacher_moves("Okay") & {"press_reasoning", "revoice", "telling"}


def test_the_coach_tab_highlights_cited_turns_and_exports_markdown(tmp_path):
    from pedagraph.ui.coach_tab import _coach, run_coach

    out = _coach(LESSON, None, "auto", None)
    shown, a, b, c, export, status = out
    assert '<mark class="coach-missed"' in shown and 'id="coach-turn-7"' in shown
    assert a.startswith("## A. Scores") and "Missed opportunities" in b and c.startswith("## C.")
    assert open(export, encoding="utf-8").read().startswith("# Coaching report")
    assert "suggestions: " in status and " kept, " in status
    upload = tmp_path / "lesson.csv"
    upload.write_text("speaker,text\nTeacher,What is 2+2?\nStudent,4\n", encoding="utf-8")
    assert [t["speaker"] for t in run_coach("", str(upload))["turns"]] == ["teacher", "student"]
    refused = _coach("   ", None, "auto", None)
    assert refused[-1].startswith("⚠️ the transcript is empty") and "\n" not in refused[-1]
    assert run_coach("", None, "auto", 0)["turns"][0]["speaker"] == "teacher"  # MathDial conversation 0


def test_the_coach_tabs_default_action_coaches_a_mathdial_conversation():
    """Pressing the button on the tab as it opens coaches MathDial conversation 0 (the bundled sample's, bare)."""
    import gradio as gr
    from pedagraph.ui.coach_tab import _coach, build_coach_tab

    with gr.Blocks() as demo:
        build_coach_tab()
    defaults = {c.elem_id: c.value for c in demo.blocks.values() if getattr(c, "elem_id", None)}
    out = _coach(defaults["coach-transcript"] or "", None, "auto", defaults["coach-mathdial"])
    assert "suggestions: " in out[-1] and out[1].startswith("## A. Scores"), out[-1]
    from conftest import data_file

    sample = data_file("mathdial/test.jsonl").origin == "sample"  # the status says so when the sample is read
    assert ("come from the small sample shipped with pedagraph (its first 40 rows)" in out[-1]) == sample
    assert "pedagraph data" not in out[-1]  # no CLI command for a teacher
    assert "sample" not in _coach(LESSON, None, "auto", None)[-1]  # a pasted transcript is no sample
