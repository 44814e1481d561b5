"""The datasets the evaluation suites use: pinned upstream files, checksums, licences, citations.

Every file has a *key*, its path under a data root (`$PEDAGRAPH_HOME/data`, a local copy, a mirror), e.g.
`gsm8k/test.jsonl`; suites name their default data by key. Each file's source is a raw GitHub URL pinned to a
commit. `sha256` is the upstream file's checksum where it was checked here: the reference copy these hashes
come from (the project's shared data folder) holds those files byte-identical to upstream, as its SOURCE.md
notes say. Where that copy is a subset of the upstream file (held-out rows removed), the upstream checksum
could not be computed here: `sha256` is None, and a fetch reports the checksum it computed instead of
checking it.
"""

from __future__ import annotations

from dataclasses import dataclass

RAW_GITHUB = "https://raw.githubusercontent.com"

CC_BY_SA_4 = "CC BY-SA 4.0"
CC_BY_SA_4_URL = "https://creativecommons.org/licenses/by-sa/4.0/"

_SUBSET = "not verified here: the reference copy is a subset of this upstream file (held-out rows removed)"


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset: where it lives upstream (repository, commit, path) and its checksum."""

    key: str
    repo: str
    commit: str
    path: str
    sha256: str | None
    size: int | None = None
    note: str = ""

    @property
    def url(self) -> str:
        """The upstream URL, pinned to the commit."""
        return f"{RAW_GITHUB}/{self.repo}/{self.commit}/{self.path}"

    @property
    def clone_path(self) -> str:
        """The file's path in a directory of upstream clones: `<repository name>/<path in the repository>`."""
        return f"{self.repo.split('/')[-1]}/{self.path}"


@dataclass(frozen=True)
class Dataset:
    """A dataset of the registry: its files (the main one first), licence, citation and the suites that use it."""

    name: str
    title: str
    description: str
    files: tuple[DataFile, ...]
    licence: str
    licence_url: str
    citation: str
    suites: tuple[str, ...]
    homepage: str

    @property
    def main(self) -> DataFile:
        """The file `--data NAME` stands for."""
        return self.files[0]

    @property
    def size(self) -> int | None:
        """Total bytes of the files when every size is known."""
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)

    @property
    def verified(self) -> bool:
        """Whether every file has a pinned upstream checksum."""
        return all(f.sha256 for f in self.files)


_GSM8K = ("openai/grade-school-math", "3101c7d5072418e28b9008a6636bde82a006892c")
_MATHDIAL = ("eth-nlped/mathdial", "b452be46f28b1e64cfe2646302e3ca8c502926d0")
_MRBENCH = ("kaushal0494/UnifyingAITutorEvaluation", "bbef521ddb875f2cc8a5ee798f4066965a7cfd8a")
_STRATEGYQA = ("eladsegal/strategyqa", "1ba1e97452e189569357876f2854b01357ffbe37")
_SAHA = ("swarnaHub/ExplanationIntervention", "f3b0d67d1e96387ce695e47230f429f5e6814823")
_BRIDGE = ("rosewang2008/bridge", "a5b1d426ce517e0aeb4b7b2a64e842501c98e38f")

_GSM8K_CITATION = (
    "Cobbe et al. 2021, Training Verifiers to Solve Math Word Problems, arXiv:2110.14168"
)
_MRBENCH_CITATION = (
    "Maurya et al. 2025, Unifying AI Tutor Evaluation: An Evaluation Taxonomy for Pedagogical Ability "
    "Assessment of LLM-Powered AI Tutors, NAACL 2025"
)

_BRIDGE_FILES = (  # path in the repository (the key: bridge/ + the path without dataset/), sha256, size
    ("dataset/test.json",
     "7c1f5eccce6f635924ca495439c7a9d70885c73122dd4caf8ad9066c657265e9", 521815),
    ("dataset/train.json",
     "870fa10d299711d315718d1995f234988582d7168fa9c054c267ededd89ba260", 1025478),
    ("dataset/validation.json",
     "1d87ffece5fba05b6f5e91a2bcd0e5d556afb00973dd47e09969c875576bf327", 172532),
    ("outputs/step_a_error/gpt4.json",
     "9df46a9f2f3ae3049732ce56eef9973940ff3a5f6073fec1546b6f122049e3b6", 575805),
    ("outputs/step_a_error/chatgpt.json",
     "856c27c0579b07d466fa7565c9ffe36d72c23a6755f654d91fb9f95c5362ca52", 573999),
    ("outputs/step_a_error/llama-2-70b-chat.json",
     "53720ba11fd12c8e8f533b03fd5f67e366e6434c625d988332aeb63a3b079ef4", 1056300),
    ("outputs/step_bc_strategy_intention/gpt4.json",
     "f91cd17cdabe3e69a059481a2173cdf6ce9060c04b4ccbb9bbe7129d831e3f76", 616206),
    ("outputs/step_bc_strategy_intention/chatgpt.json",
     "4aa7155445ae464715c1d064c83fb44f2de9d914750a2cf0a26f305ae89865c7", 603087),
    ("outputs/step_bc_strategy_intention/llama-2-70b-chat.json",
     "36485ca4e04cdab749b810c7b2ae8e7998bf3182d67c328ea39d8b50ff24ac10", 1027515),
    ("outputs/responses/expert_gpt4.json",
     "5545bccd8deffa69b30b51109d4e6fbaf97d562fa44743d21f71dcda99c96d42", 511060),
    ("outputs/responses/gpt4_gpt4.json",
     "bdfa6c9a81d02db5fd4c0d9d86a33680034e815492b59e5a6c945701e80801ee", 176061),
    ("outputs/responses/none_gpt4.json",
     "67a4d9989393e9ef9bbe5cba7af8ce51f999c4313e198d7d71cdf1cf065eebb7", 176047),
    ("outputs/responses/random_gpt4.json",
     "78550bb9806f009a036defbbf76791d8ac6d9561d67a89cb4c8143fdec7ff7a5", 297696),
)

DATASETS: tuple[Dataset, ...] = (
    Dataset(
        name="gsm8k",
        title="GSM8K",
        description="grade-school maths word problems with worked solutions (`#### answer`)",
        files=(
            DataFile("gsm8k/test.jsonl", *_GSM8K, "grade_school_math/data/test.jsonl", None, note=_SUBSET),
            DataFile(
                "gsm8k/train.jsonl", *_GSM8K, "grade_school_math/data/train.jsonl",
                "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465", 4166206,
            ),
        ),  # fmt: skip
        licence="MIT",
        licence_url=f"https://github.com/{_GSM8K[0]}/blob/{_GSM8K[1]}/LICENSE",
        citation=_GSM8K_CITATION,
        suites=("solve", "tutoring", "tom", "lesson", "outcomes"),
        homepage=f"https://github.com/{_GSM8K[0]}",
    ),
    Dataset(
        name="gsm8k-socratic",
        title="GSM8K Socratic",
        description="GSM8K test problems with a sub-question before each solution step",
        files=(
            DataFile(
                "gsm8k/test_socratic.jsonl", *_GSM8K, "grade_school_math/data/test_socratic.jsonl", None, note=_SUBSET
            ),
        ),
        licence="MIT",
        licence_url=f"https://github.com/{_GSM8K[0]}/blob/{_GSM8K[1]}/LICENSE",
        citation=_GSM8K_CITATION,
        suites=("tutoring",),
        homepage=f"https://github.com/{_GSM8K[0]}",
    ),
    Dataset(
        name="mathdial",
        title="MathDial",
        description="tutoring dialogues with LLM students holding a misconception (test split)",
        files=(
            DataFile("mathdial/test.jsonl", *_MATHDIAL, "data/test.jsonl", None, note=_SUBSET),
            DataFile("mathdial/test.csv", *_MATHDIAL, "data/test.csv", None, note=_SUBSET),
            DataFile(
                "mathdial/example.jsonl", *_MATHDIAL, "data/example.jsonl",
                "84655e6347b0d51e6585398644a017ed1f06748ba54466f20dec9b2b842ae1ed", 5017,
            ),
        ),  # fmt: skip
        licence=CC_BY_SA_4,
        licence_url=CC_BY_SA_4_URL,
        citation=(
            "Macina et al. 2023, MathDial: A Dialogue Tutoring Dataset with Rich Pedagogical Properties Grounded "
            "in Math Reasoning Problems, Findings of EMNLP 2023"
        ),
        suites=("tutoring", "copilot", "coach", "distill", "outcomes"),
        homepage=f"https://github.com/{_MATHDIAL[0]}",
    ),
    Dataset(
        name="mrbench-v1",
        title="MRBench V1",
        description="tutor responses to student mistakes with human labels on 8 pedagogical dimensions",
        files=(
            DataFile(
                "mrbench/MRBench/MRBench_V1.json", *_MRBENCH, "MRBench/MRBench_V1.json",
                "77a33ab81ca9c773d22faee2be7a7bb43b203a06497a5daa35d715f9ada3a6f3", 1368365,
            ),
        ),  # fmt: skip
        licence=CC_BY_SA_4,
        licence_url=CC_BY_SA_4_URL,
        citation=_MRBENCH_CITATION,
        suites=("judge",),
        homepage=f"https://github.com/{_MRBENCH[0]}",
    ),
    Dataset(
        name="mrbench-v2",
        title="MRBench V2",
        description="MRBench V1 plus extra examples, 8 dimensions",
        files=(
            DataFile(
                "mrbench/MRBench/MRBench_V2.json", *_MRBENCH, "MRBench/MRBench_V2.json",
                "a8792225075533d15c23e1c903d0c649f19708ee93f5c3d8267eaa6ab623aac1", 1426725,
            ),
        ),  # fmt: skip
        licence=CC_BY_SA_4,
        licence_url=CC_BY_SA_4_URL,
        citation=_MRBENCH_CITATION,
        suites=("judge",),
        homepage=f"https://github.com/{_MRBENCH[0]}",
    ),
    Dataset(
        name="bea2025-dev",
        title="BEA 2025 shared task devset (MRBench V3)",
        description="the BEA 2025 shared task's labelled data: tutor responses, 4 dimensions",
        files=(
            DataFile(
                "mrbench/BEA_Shared_Task_2025_Datasets/mrbench_v3_devset.json", *_MRBENCH,
                "BEA_Shared_Task_2025_Datasets/mrbench_v3_devset.json",
                "a395feab801de50d44b73e1e9b88f84824a1f1d92e15ae86842d90c2b6dbf33c", 1578346,
            ),
        ),  # fmt: skip
        licence=CC_BY_SA_4,
        licence_url=CC_BY_SA_4_URL,
        citation=_MRBENCH_CITATION,
        suites=("judge",),
        homepage=f"https://github.com/{_MRBENCH[0]}",
    ),
    Dataset(
        name="strategyqa",
        title="StrategyQA",
        description="yes/no questions needing implicit multi-step reasoning; harmful explanations of Saha et al.",
        files=(
            DataFile(
                "strategyqa/dev.json", *_STRATEGYQA, "data/strategyqa/dev.json",
                "0d94842ffb022db8fd5ecd2168b785d5cf67f6faf64f665476bad544a3eb9dde", 424195,
            ),
            DataFile(
                "strategyqa/train.json", *_STRATEGYQA, "data/strategyqa/train.json",
                "0f72560b8a6fad3db847d2f1a7524fb087297843bb45a8d3245ffd68cbe0de12", 3857762,
            ),
            DataFile(
                "strategyqa/strategyqa_test.json", *_SAHA, "datasets/strategyqa_dataset/strategyqa_test.json",
                "268bec2605a45830ae7f1f3861d5ee2a4a10f4aeaca0358a076760b2eff3ed25", 64207,
            ),
            DataFile(
                "strategyqa/harmful_explanations.json", *_SAHA, "datasets/strategyqa_dataset/harmful_explanations.json",
                "56423203d129b72ba49a30b1aab5e967df06e7b61b5b10e4c3ab881951b35540", 8847,
            ),
        ),  # fmt: skip
        licence="MIT",
        licence_url=f"https://github.com/{_STRATEGYQA[0]}/blob/{_STRATEGYQA[1]}/LICENSE",
        citation=(
            "Geva et al. 2021, Did Aristotle Use a Laptop? A Question Answering Benchmark with Implicit Reasoning "
            "Strategies, TACL; harmful explanations: Saha, Hase & Bansal 2023, NeurIPS"
        ),
        suites=("solve", "tom"),
        homepage=f"https://github.com/{_STRATEGYQA[0]}",
    ),
    Dataset(
        name="ecqa",
        title="ECQA",
        description="CommonsenseQA multiple-choice questions with human explanations (validation and test)",
        files=(
            DataFile(
                "ecqa/cqa_data_test.csv", *_SAHA, "datasets/ecqa/cqa_data_test.csv",
                "f3f738c5b448fc7d990ebce6e100ef759c15283d744d444642fcfb8ebcbc1da9", 1789003,
            ),
            DataFile(
                "ecqa/cqa_data_val.csv", *_SAHA, "datasets/ecqa/cqa_data_val.csv",
                "f410b9d3a6dff4b93026eadc3ed466ff742a859950a7856b488af6735949c335", 895446,
            ),
        ),  # fmt: skip
        licence=f"{CC_BY_SA_4} / MIT",  # the ECQA annotations / the CommonsenseQA questions and options
        licence_url=CC_BY_SA_4_URL,
        citation=(
            "Aggarwal et al. 2021, Explanations for CommonsenseQA: New Dataset and Models, ACL 2021; "
            "Talmor et al. 2019, CommonsenseQA, NAACL 2019"
        ),
        suites=("solve", "tom"),
        homepage="https://github.com/dair-iitd/ECQA-Dataset",
    ),
    Dataset(
        name="bridge",
        title="Bridge",
        description="tutoring conversations cut at a student's mistake, with an expert's error, strategy, intention "
        "and response; the paper's published model predictions and responses (outputs/)",
        files=tuple(
            DataFile(f"bridge/{path.removeprefix('dataset/')}", *_BRIDGE, path, sha, size)
            for path, sha, size in _BRIDGE_FILES
        ),
        licence="MIT",
        licence_url=f"https://github.com/{_BRIDGE[0]}/blob/{_BRIDGE[1]}/LICENSE",
        citation=(
            "Wang, Zhang, Robinson, Loeb & Demszky 2024, Bridging the Novice-Expert Gap via Models of "
            "Decision-Making: A Case Study on Remediating Math Mistakes, NAACL 2024 (arXiv:2310.10648)"
        ),
        suites=("bridge",),
        homepage=f"https://github.com/{_BRIDGE[0]}",
    ),
)
