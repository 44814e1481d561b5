import random

import pytest

from pedagraph.answers import (
    check_answer,
    compare,
    extract_numbers,
    find_numbers,
    format_number,
    fraction_of,
    normalize_text,
    number_to_words,
)


def approx_list(values):
    return [pytest.approx(v, rel=1e-9, abs=1e-9) for v in values]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("She has 1,200 apples", [1200]),
        ("it costs 1,200, then 5 more", [1200, 5]),
        ("1,234,567.5", [1234567.5]),
        ("12.5 and .05", [12.5, 0.05]),
        ("-5 degrees", [-5]),
        ("the answer is -3", [-3]),
        ("16-3-4", [16, 3, 4]),
        ("16 - 3 - 4 = 9", [16, 3, 4, 9]),
        ("16 -3", [16, 3]),
        ("$12.50 each", [12.5]),
        ("-$5", [-5]),
        ("12% off", [12]),
        ("7 per cent", [7]),
        ("3/4 of the cake", [0.75]),
        ("1 3/4 cups", [1.75]),
        ("7/4", [1.75]),
        ("48/2=24", [48, 2, 24]),  # a division to do, not a way of writing 24
        ("1½ cups", [1.5]),
        ("2 million", [2_000_000]),
        ("1.5 thousand", [1500]),
        ("200k", [200_000]),
        ("zero", [0]),
        ("seven", [7]),
        ("nineteen", [19]),
        ("seventy-two", [72]),
        ("twenty five", [25]),
        ("a hundred", [100]),
        ("one hundred and twenty-five", [125]),
        ("two thousand three hundred and one", [2301]),
        ("a thousand", [1000]),
        ("three million", [3_000_000]),
        ("ninety nine thousand nine hundred", [99_900]),
        ("twelve and a half", [12.5]),
        ("12 and a half", [12.5]),
        ("one and a half hours", [1.5]),
        ("half", [0.5]),
        ("a quarter", [0.25]),
        ("three quarters", [0.75]),
        ("two thirds", [2 / 3]),
        ("one third of 9", [1 / 3, 9]),
        ("two point five", [2.5]),
        ("minus five", [-5]),
        ("negative 4", [-4]),
        ("nine minus three", [9, 3]),
        ("one eight", [1, 8]),
        ("１８", [18]),  # full-width digits
        ("1\u200b8", [18]),  # zero-width space inside
        ("50 cents", [50]),
        ("18 dollars", [18]),
    ],
)
def test_extract_numbers(text, expected):
    assert extract_numbers(text) == approx_list(expected)


@pytest.mark.parametrize(
    "text",
    [
        "the first step",
        "the second day",
        "on the third day",
        "the 1st, 2nd, 3rd and 18th",
        "the one you found",
        "which one is bigger",
        "no one knows",
        "can I have the next one?",
        "a harder one please",
        "the same one again",
        "once or twice",
        "a second later",
        "hundreds of people",
        "a dozen eggs",
    ],
)
def test_ordinals_pronouns_and_multiplicatives_are_not_numbers(text):
    assert extract_numbers(text) == []


def test_a_request_for_the_next_one_after_an_answer_grades_the_answer():
    assert check_answer("18, can I have the next one?", 18).verdict == "correct"
    assert check_answer("only one egg", 18).value == 1  # "one" after other words is still the number


def test_find_numbers_reports_positions_kind_and_marks():
    text = "Pay $12.50, or 20% of 3/4, or eighteen"
    matches = find_numbers(text)
    norm = normalize_text(text)
    assert [norm[m.start : m.end] for m in matches] == [m.text for m in matches]
    assert [m.text for m in matches] == ["$12.50", "20%", "3/4", "eighteen"]
    assert [m.kind for m in matches] == ["digits", "digits", "fraction", "words"]
    assert matches[0].money and not matches[0].percent
    assert matches[1].percent and matches[1].values == (20, 0.2)
    assert find_numbers("75 cents")[0].values == (75, 0.75)


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"),
        (7, "seven"),
        (18, "eighteen"),
        (21, "twenty-one"),
        (100, "one hundred"),
        (105, "one hundred five"),
        (1800, "one thousand eight hundred"),
        (130_000, "one hundred thirty thousand"),
        (2_000_000_001, "two billion one"),
        (-5, "minus five"),
        (2.5, "two point five"),
        (0.75, "zero point seven five"),
        (18.0, "eighteen"),
    ],
)
def test_number_to_words(n, words):
    assert number_to_words(n) == words


def test_number_to_words_round_trips_through_extract_numbers():
    rng = random.Random(7)
    values = list(range(0, 1101)) + [rng.randrange(1, 10**11) for _ in range(300)] + [-42, -1000, 3.25, 12.05]
    for n in values:
        assert extract_numbers(number_to_words(n)) == approx_list([n]), n


def test_number_to_words_rejects_non_finite():
    with pytest.raises(ValueError):
        number_to_words(float("inf"))


@pytest.mark.parametrize(
    "text",
    ["18", "18.0", "18.00", "$18", "$18.00", "eighteen", "18 dollars", "eighteen dollars", "The answer is 18.",
     "I got 18", "It's 9*2 which is 18", "16 - 3 - 4 = 9 eggs, 9 * 2 = 18", "the answer is 18 because 9*2 = 18",
     "18 because 9 times 2", "In step 2 I got 18", "She makes $18 every day.", "the answer is 17, no wait, 18",
     "the answer is 17, no wait, the answer is 18", "18 or 18.0", "#### 18", "１８"],
)  # fmt: skip
def test_check_answer_correct_forms(text):
    result = check_answer(text, 18)
    assert result.verdict == "correct", result
    assert result.value == pytest.approx(18)
    assert result.correct


@pytest.mark.parametrize(
    ("text", "value"),
    [("17", 17), ("nineteen", 19), ("I think it's 180", 180), ("I got 9 eggs", 9), ("-18", -18),
     ("16 - 3 - 4 = 9", 9), ("the answer is 20 because 9 + 9 + 2 = 20", 20), ("1.8", 1.8)],
)  # fmt: skip
def test_check_answer_incorrect(text, value):
    result = check_answer(text, 18)
    assert result.verdict == "incorrect"
    assert result.value == pytest.approx(value)


@pytest.mark.parametrize(
    "text", ["I don't know", "", "can you help?", "what is 9 * 2?", "I need to multiply 9 by 2", "9 + 9"]
)
def test_check_answer_no_answer(text):
    result = check_answer(text, 18)
    assert result.verdict == "no_answer"
    assert result.value is None


@pytest.mark.parametrize(
    "text",
    ["I think it's 17 or 18", "either 18 or 19", "16, 17 or 18", "is it 17? or 18?", "maybe 17, maybe 18",
     "between 17 and 19", "the answer is 17. the answer is 18", "is it 16? is it 17? is it 18?"],
)  # fmt: skip
def test_check_answer_ambiguous(text):
    result = check_answer(text, 18)
    assert result.verdict == "ambiguous", result
    assert len(set(result.candidates)) >= 2


def test_check_answer_lists_every_number_found():
    result = check_answer("16 - 3 - 4 = 9, then 9 * 2 = 18", 18)
    assert result.numbers == [16, 3, 4, 9, 9, 2, 18]


def test_check_answer_percent_and_cents_and_fractions():
    assert check_answer("25%", 0.25).verdict == "correct"
    assert check_answer("25%", 25).verdict == "correct"
    assert check_answer("75 cents", 0.75).verdict == "correct"
    assert check_answer("three quarters", 0.75).verdict == "correct"
    assert check_answer("3/4", 0.75).verdict == "correct"
    assert check_answer("1 1/2", 1.5).verdict == "correct"
    assert check_answer("2/3", 0.6667).verdict == "incorrect"  # tolerance is tight by default
    assert check_answer("2/3", 0.6667, rel_tol=1e-3).verdict == "correct"


def test_compare_and_format_number():
    assert compare(18, 18.0000000001)
    assert not compare(18, 18.01)
    assert not compare(None, 18)
    assert compare(0.1 + 0.2, 0.3)
    assert format_number(18.0) == "18"
    assert format_number(0.75) == "0.75"
    assert format_number(12.50) == "12.5"
    assert format_number(-3.0) == "-3"
    assert fraction_of(0.75).numerator == 3
    assert fraction_of(0.123456789) is None
