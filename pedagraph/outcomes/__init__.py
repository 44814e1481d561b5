"""Learning outcomes of simulated learners: pre-test -> intervention -> post-test, per policy, per unit of help.

The home of the `outcomes` method (docs/outcomes.md): simulated learners (`learner`), what they read from a
reply (`features`), test and practice items (`items`), the policy registry (`policies`), one learner's run
(`experiment`), the statistics (`stats`) and the realism check on real student turns (`realism`). The suite is
`evals/suites/outcomes.py`; the teachers' view is `ui/outcomes_tab.py`.
"""

from pedagraph.outcomes import copilot as _copilot  # noqa: F401, E402 - registers the copilot policies
from pedagraph.outcomes.experiment import credit, normalised_gain, run_learner, sim_learner_id
from pedagraph.outcomes.features import ReplyFeatures, count_tokens, read_reply
from pedagraph.outcomes.items import LearnerPlan, load_profiles, plan_for, variant
from pedagraph.outcomes.learner import FeatureLearner, LearnerParams, LearnerProfile, LLMLearner, seed_learner
from pedagraph.outcomes.policies import POLICIES, Episode, PolicyEnv, get_policy, policy_names, register_policy

__all__ = [
    "POLICIES",
    "Episode",
    "FeatureLearner",
    "LLMLearner",
    "LearnerParams",
    "LearnerPlan",
    "LearnerProfile",
    "PolicyEnv",
    "ReplyFeatures",
    "count_tokens",
    "credit",
    "get_policy",
    "load_profiles",
    "normalised_gain",
    "plan_for",
    "policy_names",
    "read_reply",
    "register_policy",
    "run_learner",
    "seed_learner",
    "sim_learner_id",
    "variant",
]
