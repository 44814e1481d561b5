from pedagraph.learner import GradedEvidence, LearnerModel, TeachingDemo, get_learner_store
from pedagraph.llm import ScriptedChatModel, get_model
from pedagraph.methods.tom.mental_model import (
    decide_intervention,
    explanation_lift,
    p_correct_explained,
    p_correct_unaided,
)


def _learner_with(correct_answers: int, wrong_answers: int, skill: str = "division") -> LearnerModel:
    store = get_learner_store()
    for i in range(correct_answers + wrong_answers):
        ev = GradedEvidence(grader="step_check", session_id="s", turn=i, item_id=f"i{i}")
        store.record_evidence("amy", skill, i < correct_answers, ev)
    return store.get("amy")


def test_unaided_prediction_follows_mastery():
    novice = LearnerModel(learner_id="n")
    strong = _learner_with(8, 0)
    assert p_correct_unaided(strong, ["division"]) > p_correct_unaided(novice, ["division"])
    # a step needs all its skills: the weakest one decides
    assert p_correct_unaided(strong, ["division", "fractions"]) == p_correct_unaided(novice, ["fractions"])


def test_explanation_helps_novices_more_than_experts():
    novice = LearnerModel(learner_id="n")
    strong = _learner_with(8, 0)
    u_novice = p_correct_explained(novice, ["division"]) - p_correct_unaided(novice, ["division"])
    u_strong = p_correct_explained(strong, ["division"]) - p_correct_unaided(strong, ["division"])
    assert u_novice > u_strong > 0


def test_lift_learned_from_the_mental_model_bank():
    m = LearnerModel(learner_id="x")
    assert explanation_lift(m) == 0.5
    helped = [
        TeachingDemo(question=f"q{i}", explanation="e", learner_answer="1", correct=True) for i in range(4)
    ]
    m2 = m.model_copy(update={"demos": helped})
    assert explanation_lift(m2) == (4 + 1) / (4 + 2)
    ignored = [TeachingDemo(question=f"q{i}", explanation="e", learner_answer="1", correct=False) for i in range(4)]
    m3 = m.model_copy(update={"demos": ignored})
    assert explanation_lift(m3) < 0.5


def test_decision_respects_threshold_and_budget():
    novice = LearnerModel(learner_id="n")
    d = decide_intervention(novice, ["division"], budget_left=2, threshold=0.15)
    assert d.explain and d.utility >= 0.15 and d.simulator == "bkt"
    assert not decide_intervention(novice, ["division"], budget_left=0).explain
    assert not decide_intervention(novice, ["division"], budget_left=2, threshold=0.9).explain
    strong = _learner_with(10, 0)
    assert not decide_intervention(strong, ["division"], budget_left=2, threshold=0.15).explain


def test_llm_simulator_asks_the_teacher_with_demos():
    inner = ScriptedChatModel(replies=[{"p_correct": 0.2}, {"p_correct": 0.9, "expected_answer": "12"}])
    teacher = get_model("teacher", model=inner)
    m = LearnerModel(learner_id="x", demos=[TeachingDemo(question="3*4?", learner_answer="7", correct=False)])
    d = decide_intervention(
        m, ["multiplication"], budget_left=1, simulator="llm", model=teacher, question="2*6?", answer="12"
    )
    assert d.simulator == "llm" and d.p_pre == 0.2 and d.p_post == 0.9 and d.explain
    assert "3*4?" in inner.calls[0].last_user
    assert "Explanation the learner reads first" in inner.calls[1].last_user
