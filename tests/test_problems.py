import json
import re
from importlib import resources
from pathlib import Path

import pytest
from conftest import data_file

from pedagraph.answers import compare, find_numbers
from pedagraph.datasets.samples import ROWS
from pedagraph.errors import DataError
from pedagraph.problems import (
    SKILLS,
    Problem,
    bundled_problems,
    get_problem,
    load_problems,
    parse_gsm8k,
    parse_gsm8k_socratic,
    parse_mathdial,
    pretty_expression,
    skills_for,
)
from pedagraph.reveal import RevealGate

GSM8K_SOCRATIC = "gsm8k/test_socratic.jsonl"
GSM8K_PLAIN = "gsm8k/test.jsonl"
MATHDIAL = "mathdial/test.jsonl"
MATHDIAL_CSV = "mathdial/test.csv"

JANET = {
    "question": "Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins "
    "for her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh "
    "duck egg. How much in dollars does she make every day at the farmers' market?",
    "answer": "How many eggs does Janet sell? ** Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n"
    "How much does Janet make at the farmers' market? ** She makes 9 * 2 = $<<9*2=18>>18 every day at the "
    "farmer\u2019s market.\n#### 18",
}
ROBE_PLAIN = {
    "question": "A robe takes 2 bolts of blue fiber and half that much white fiber.  How many bolts in total does it "
    "take?",
    "answer": "It takes 2/2=<<2/2=1>>1 bolt of white fiber\nSo the total amount of fabric is 2+1=<<2+1=3>>3 bolts of "
    "fabric\n#### 3",
}


def _standalone(text: str, value: float | None) -> bool:
    return value is not None and any(compare(m.value, value) for m in find_numbers(text))


def _need(key: str) -> Path:
    """The full file beside the repository (../shared/data or PEDAGRAPH_DATA_DIR), else its bundled sample."""
    return data_file(key).path


def _rows(key: str, full: int) -> int:
    """How many rows the file the tests read has: `full` for the full copy, the sample's size otherwise."""
    return full if data_file(key).origin != "sample" else ROWS[key]


# ---------------------------------------------------------------------------------------------------------------
# parsing one record
# ---------------------------------------------------------------------------------------------------------------


def test_parse_socratic_record():
    p = parse_gsm8k_socratic(JANET, "janet")
    assert p.id == "janet"
    assert p.source == "gsm8k-socratic"
    assert p.final_answer == "18" and p.final_value == 18
    assert [s.index for s in p.steps] == [0, 1]
    first, second = p.steps
    assert first.question == "How many eggs does Janet sell?"
    assert first.solution_text == "Janet sells 16 - 3 - 4 = 9 duck eggs a day."
    assert first.expression == "16 - 3 - 4"
    assert first.answer == "9" and first.answer_value == 9
    assert first.hint == "Which operation do you need here? Try subtraction with 16, 3 and 4."
    assert first.expression not in first.hint  # the set-up itself is the next scaffolding level, not the hint
    assert first.skills == ["subtraction", "rates", "time"]
    assert second.solution_text == "She makes 9 * 2 = $18 every day at the farmer\u2019s market."
    assert second.expression == "9 * 2" and second.answer_value == 18
    assert "money" in second.skills and "multiplication" in second.skills
    assert "<<" not in p.solution and p.solution.endswith("Final answer: 18")
    assert p.skills == ["subtraction", "multiplication", "rates", "money", "time"]
    assert "MIT" in p.license and "OpenAI" in p.license
    assert p.numbers() == {16, 3, 4, 2}
    assert p.step_values() == [9, 18]


def test_parse_plain_record_derives_sub_questions():
    p = parse_gsm8k(ROBE_PLAIN, "robe")
    assert p.source == "gsm8k"
    assert [s.answer_value for s in p.steps] == [1, 3]
    assert p.steps[0].question == "Step 1: can you work out the next quantity?"  # "1 bolt": no plural unit
    assert p.steps[1].question == "What is the total amount of fabric?"
    janet_plain = {"question": JANET["question"], "answer": "\n".join(
        line.split(" ** ", 1)[1] if " ** " in line else line for line in JANET["answer"].split("\n"))}  # fmt: skip
    q = parse_gsm8k(janet_plain, "janet-plain")
    assert q.steps[0].question == "Step 1: how many duck eggs?"
    assert q.steps[1].question == "Step 2: how much money does this come to?"
    for step in q.steps:
        assert not _standalone(step.question, step.answer_value)
    # a Socratic record given to parse_gsm8k is recognised
    assert parse_gsm8k(JANET, "x").source == "gsm8k-socratic"


def test_step_answer_is_last_annotation_else_number_after_equals_else_last_number():
    record = {
        "question": "q?",
        "answer": "A ** He pays 2*10=<<2*10=20>>20 and 3*5=<<3*5=15>>15, so 20+15=<<20+15=35>>35 in all\n"
        "B ** Then 35 - 5 = 30 dollars are left, not 7\n"
        "C ** That leaves 12 apples for 3 friends\n"
        "#### 3",
    }
    p = parse_gsm8k_socratic(record, "r")
    assert [s.answer_value for s in p.steps] == [35, 30, 3]
    assert p.steps[0].expression == "20 + 15"
    assert p.steps[1].expression == "35 - 5"  # plain text, checked by evaluating it
    assert p.steps[2].expression is None
    assert p.steps[0].skills[:2] == ["addition", "multiplication"]


def test_hint_never_contains_the_step_result():
    record = {"question": "Tom has 18 apples. How many?", "answer": "A ** He has 18*1=<<18*1=18>>18 apples\n#### 18"}
    step = parse_gsm8k_socratic(record, "t").steps[0]
    assert step.expression == "18 * 1"
    assert not _standalone(step.hint, 18)
    assert "multiplication" in step.hint


def test_hint_that_would_show_the_final_answer_is_replaced():
    record = {
        "question": "Claire eats a 3 egg omelet every morning. How many dozens of eggs will she eat in 4 weeks?",
        "answer": "A ** 3*7 = <<3*7=21>>21 eggs a week\nB ** 4*21 = <<4*21=84>>84 eggs\nC ** 84/12 = <<84/12=7>>7 "
        "dozen\n#### 7",
    }
    p = parse_gsm8k_socratic(record, "c")
    assert p.steps[0].expression == "3 * 7"
    assert not _standalone(p.steps[0].hint, 7)
    assert p.steps[1].hint == "Which operation do you need here? Try multiplication with 4 and 21."


def test_pretty_expression():
    assert pretty_expression("16-3-4") == "16 - 3 - 4"
    assert pretty_expression("(80000+50000)*1.5") == "(80000 + 50000) * 1.5"
    assert pretty_expression("-3+5") == "-3 + 5"
    assert pretty_expression("$3,650 × 0.1") == "3650 * 0.1"
    assert pretty_expression("abc") is None


@pytest.mark.parametrize(
    ("text", "exprs", "expected"),
    [
        ("", ["2+3"], ["addition"]),
        ("", ["10-4", "6*2", "12/3"], ["subtraction", "multiplication", "division"]),
        ("", ["-3+5"], ["addition"]),
        ("", ["1/2*18"], ["multiplication", "division", "fractions"]),
        ("He eats half of the pie", [], ["fractions"]),
        ("two thirds of the class", [], ["fractions"]),
        ("on the third day", [], ["time"]),
        ("20% of the students", [], ["percentages"]),
        ("10 miles per hour", [], ["rates", "time"]),
        ("It costs $5", [], ["money"]),
        ("She spent 40 dollars", [], ["money"]),
        ("for 3 weeks", [], ["time"]),
        ("the red box", [], []),
    ],
)
def test_skills_rules(text, exprs, expected):
    assert skills_for(text, exprs) == expected
    assert set(expected) <= set(SKILLS)


def test_parse_mathdial_record_keeps_extras():
    row = {
        "qid": 5000794,
        "question": "Bruno wants to buy two and one-half dozens of pens. How many pens will he have?",
        "ground_truth": "Since a dozen is equal to 12, then two dozens are equal to 12 x 2= 24.\\nOne-half dozen is "
        "equal to 12/2 = 6.\\nThus, Bruno will have a total of 24 + 6 = 30 pens.\\n 30",
        "student_incorrect_solution": "One dozen is 12 ...\\n 42",
        "student_profile": "Steven is a 7th grade student.",
    }
    p = parse_mathdial(row, "mathdial-5000794")
    assert p.source == "mathdial" and "CC BY-SA" in p.license
    assert p.final_value == 30
    assert [s.answer_value for s in p.steps] == [24, 6, 30]
    assert [s.expression for s in p.steps] == ["12 * 2", "12 / 2", "24 + 6"]
    assert p.extras["student_incorrect_solution"] == "One dozen is 12 ...\n 42"
    assert p.extras["qid"] == 5000794
    assert "question" not in p.extras and "ground_truth" not in p.extras


def test_from_text():
    p = Problem.from_text("  A shop sells pens for $2 each. How much do 9 pens cost?  ")
    assert p.steps == [] and not p.has_steps
    assert p.final_value is None and p.final_answer == ""
    assert p.question.startswith("A shop") and p.id.startswith("text-")
    assert p.id == Problem.from_text("A shop sells pens for $2 each. How much do 9 pens cost?").id
    assert "money" in p.skills
    assert Problem.from_text("q", 18).final_value == 18
    assert Problem.from_text("q", "It is $1,200.").final_answer == "1200"
    assert Problem.from_text("q", "eighteen", id="mine").id == "mine"
    with pytest.raises(DataError):
        Problem.from_text("   ")


def test_problems_are_immutable():
    p = parse_gsm8k_socratic(JANET, "janet")
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError for frozen models
        p.final_value = 3  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------------------------
# loading files
# ---------------------------------------------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_problems_jsonl_detects_kind_ids_and_limit(tmp_path):
    path = _write(tmp_path, "my_set.jsonl", [json.dumps(JANET), "", json.dumps(ROBE_PLAIN)])
    problems = load_problems(path)
    assert [p.id for p in problems] == ["my-set-1", "my-set-3"]
    assert [p.source for p in problems] == ["gsm8k-socratic", "gsm8k"]
    assert problems[1].extras["line"] == 3
    assert len(load_problems(path, limit=1)) == 1
    assert load_problems(path, id_prefix="x")[0].id == "x-1"


def test_load_problems_malformed_lines_raise_with_file_and_line(tmp_path):
    path = _write(tmp_path, "bad.jsonl", [json.dumps(JANET), "{not json", json.dumps({"question": "q", "answer": "a"})])
    with pytest.raises(DataError) as info:
        load_problems(path)
    assert "bad.jsonl" in str(info.value) and "line 2" in str(info.value)
    with pytest.warns(UserWarning, match="skipped 2 malformed row"):
        problems = load_problems(path, strict=False)
    assert [p.id for p in problems] == ["bad-1"]


@pytest.mark.parametrize(
    "line",
    [json.dumps({"question": "q", "answer": "no final line"}), json.dumps(["a list"]), json.dumps({"text": "x"}),
     json.dumps({"question": "", "answer": "#### 3"}), json.dumps({"question": "q", "ground_truth": ""})],
)  # fmt: skip
def test_load_problems_rejects_records_that_are_not_problems(tmp_path, line):
    path = _write(tmp_path, "odd.jsonl", [line])
    with pytest.raises(DataError, match="odd.jsonl, line 1"):
        load_problems(path)


def test_load_problems_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_problems(tmp_path / "nope.jsonl")


def test_load_problems_mathdial_csv_and_duplicate_qids(tmp_path):
    path = tmp_path / "md.csv"
    path.write_text(
        "qid,question,ground_truth,student_incorrect_solution\n"
        '7,"Tom has 2 bags of 3 apples. How many?","He has 2*3=6 apples.\n 6","2+3=5\n 5"\n'
        '7,"Tom has 2 bags of 3 apples. How many?","He has 2*3=6 apples.\n 6","2*4=8\n 8"\n',
        encoding="utf-8",
    )
    problems = load_problems(path)
    assert [p.id for p in problems] == ["mathdial-7", "mathdial-7-2"]
    assert problems[0].final_value == 6 and problems[0].steps[0].expression == "2 * 3"
    assert problems[1].extras["student_incorrect_solution"] == "2*4=8\n 8"


# ---------------------------------------------------------------------------------------------------------------
# the bundled sample
# ---------------------------------------------------------------------------------------------------------------


def test_bundled_problems():
    problems = bundled_problems()
    assert len(problems) == 40
    assert [p.id for p in problems] == [f"gsm8k-sample-{k}" for k in range(1, 41)]
    steps = [len(p.steps) for p in problems]
    assert min(steps) == 2 and max(steps) == 5
    assert {2, 3, 4, 5} <= set(steps)
    for p in problems:
        assert p.source == "gsm8k-socratic" and "MIT" in p.license
        assert p.final_value is not None and p.final_value == int(p.final_value)
        assert compare(p.steps[-1].answer_value, p.final_value)
        for s in p.steps:
            assert s.expression and s.hint.startswith("Which operation do you need here? Try ")
            assert s.expression not in s.hint
            assert not _standalone(s.hint, s.answer_value)
    skills = [s for p in problems for s in p.skills]
    assert skills.count("money") >= 10
    assert skills.count("percentages") >= 4
    assert skills.count("fractions") >= 4
    assert bundled_problems() is not bundled_problems()  # a fresh list each call


def test_bundled_file_ships_with_the_package_and_has_a_licence():
    root = resources.files("pedagraph").joinpath("data", "problems")
    assert root.joinpath("gsm8k_sample.jsonl").is_file()
    licence = root.joinpath("LICENSE-gsm8k.md").read_text(encoding="utf-8")
    for needle in ["MIT", "Copyright (c) 2021 OpenAI", "openai/grade-school-math",
                   "3101c7d5072418e28b9008a6636bde82a006892c", "Cobbe", "2110.14168", "Which rows"]:  # fmt: skip
        assert needle in licence


def test_bundled_rows_are_verbatim_upstream_lines():
    upstream = set(_need(GSM8K_SOCRATIC).read_text(encoding="utf-8").splitlines())
    text = resources.files("pedagraph").joinpath("data", "problems", "gsm8k_sample.jsonl").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) == 40
    # all 40 are rows of the full file; 23 of them are among its first 40 rows, the bundled registry sample
    assert sum(line in upstream for line in lines) == (40 if data_file(GSM8K_SOCRATIC).origin != "sample" else 23)


def test_get_problem():
    assert get_problem("gsm8k-sample-1").final_value == 18
    assert get_problem("2").id == "gsm8k-sample-2"
    with pytest.raises(DataError) as info:
        get_problem("nope")
    assert "gsm8k-sample-1" in info.value.hint


# ---------------------------------------------------------------------------------------------------------------
# every row of the shared data
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def socratic_problems() -> list[Problem]:
    return load_problems(_need(GSM8K_SOCRATIC))


def test_all_socratic_rows_last_step_matches_final(socratic_problems):
    assert len(socratic_problems) == _rows(GSM8K_SOCRATIC, 1055)
    mismatched = [p.id for p in socratic_problems if not compare(p.steps[-1].answer_value, p.final_value)]
    rate = 1 - len(mismatched) / len(socratic_problems)
    # The few exceptions are dataset quirks: the last line is a comparison ("1600 > 1200"), a closing remark,
    # or the final answer is a unit conversion of the last result ($0.25 -> 25 cents).
    assert rate >= 0.98, f"{len(mismatched)} problems whose last step is not the final answer: {mismatched[:20]}"


def test_all_socratic_rows_hints_do_not_contain_the_step_result(socratic_problems):
    leaky = [
        p.id for p in socratic_problems if any(_standalone(s.hint, s.answer_value) for s in p.steps)
    ]  # fmt: skip
    rate = 1 - len(leaky) / len(socratic_problems)
    # A hint shows the expression only when the expression does not contain the result; otherwise it names
    # the operation and has no numbers, so leaks should not happen at all.
    assert rate >= 0.95, f"{len(leaky)} problems with a hint that contains its step's result: {leaky[:20]}"
    assert not leaky


def test_all_socratic_rows_sub_questions_pass_the_reveal_gate(socratic_problems):
    flagged = []
    for p in socratic_problems:
        gate = RevealGate.for_problem(p)
        prior: list[str] = []
        for step in p.steps:
            if gate.check(step.question, learner_messages=[], prior_replies=prior).blocked:
                flagged.append(p.id)
                break
            prior.append(step.question)
    rate = 1 - len(flagged) / len(socratic_problems)
    # The exceptions are sub-questions that really print the final number ("How many pieces of candy does
    # Ginger eat in 14 days?" when the answer is 14), which the gate must flag.
    assert rate >= 0.97, f"{len(flagged)} problems with a sub-question flagged: {flagged[:20]}"


def test_all_socratic_rows_hints_pass_the_gate_in_a_tutoring_flow(socratic_problems):
    """The tutor gives step k's hint after the learner answered steps 1..k-1."""
    flagged = []
    for p in socratic_problems:
        gate = RevealGate.for_problem(p)
        learner: list[str] = []
        prior: list[str] = []
        for step in p.steps:
            for text in (step.question, step.hint):
                if gate.check(text, learner_messages=learner, prior_replies=prior).blocked:
                    flagged.append(p.id)
                    break
                prior.append(text)
            else:
                learner.append(f"I got {step.answer}")
                continue
            break
    assert len(flagged) / len(socratic_problems) <= 0.01, flagged


def test_all_plain_gsm8k_rows_parse():
    problems = load_problems(_need(GSM8K_PLAIN))
    assert len(problems) == _rows(GSM8K_PLAIN, 1055)
    assert all(p.source == "gsm8k" for p in problems)
    matched = sum(compare(p.steps[-1].answer_value, p.final_value) for p in problems)
    assert matched / len(problems) >= 0.98
    derived = 0
    for p in problems:
        for s in p.steps:
            body = re.sub(r"^Step \d+: ", "", s.question)  # the step label may equal the result; that is fine
            derived += body != s.question
            assert body and not _standalone(body, s.answer_value), (p.id, s.question)
    assert derived < sum(len(p.steps) for p in problems)  # some questions come from the noun-phrase rule


@pytest.mark.parametrize("path", [MATHDIAL, MATHDIAL_CSV], ids=["jsonl", "csv"])
def test_all_mathdial_rows_parse(path):
    problems = load_problems(_need(path))
    assert len(problems) == _rows(path, 479)
    assert all(p.source == "mathdial" and p.id.startswith("mathdial-") for p in problems)
    assert len({p.id for p in problems}) == len(problems)
    assert all(p.final_value is not None and p.steps for p in problems)
    assert all(isinstance(p.extras.get("student_incorrect_solution"), str) for p in problems)
    matched = sum(compare(p.steps[-1].answer_value, p.final_value) for p in problems)
    assert matched / len(problems) >= 0.98
    with_expression = sum(1 for p in problems for s in p.steps if s.expression)
    assert with_expression / sum(len(p.steps) for p in problems) >= 0.85
    for p in problems:
        for s in p.steps:
            assert not _standalone(s.hint, s.answer_value), (p.id, s.hint)
