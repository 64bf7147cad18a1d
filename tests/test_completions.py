"""The completion scripts in completions/: current, loadable in their shell, and working.

The scripts call `hyperkvasir` back on each Tab, so the functional checks put this
Python's bin folder (where the console script is installed) first on PATH. A shell that is
not installed is skipped, never failed.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from typer.testing import CliRunner

from hyperkvasir_cli.cli.app import app
from tests.downloads import part_entry, write_manifest

ROOT = Path(__file__).resolve().parent.parent
COMPLETIONS = ROOT / "completions"
BASH_SCRIPT = COMPLETIONS / "hyperkvasir.bash"
ZSH_SCRIPT = COMPLETIONS / "_hyperkvasir"
FISH_SCRIPT = COMPLETIONS / "hyperkvasir.fish"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "completions_generate", COMPLETIONS / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shell_or_skip(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed")
    return found


@pytest.fixture
def shell_env(tmp_path: Path) -> dict[str, str]:
    """A private home (shells write caches there) and this environment's console script."""
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "hyperkvasir").exists():
        pytest.skip(f"the hyperkvasir console script is not installed in {bin_dir}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "ZDOTDIR"))}
    env.update(HOME=str(tmp_path), PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}")
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"))
    return env


def run_shell(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"{argv} exited {done.returncode}: {done.stderr}"
    return done.stdout


def complete_in_process(words: str, *, env: dict[str, str] | None = None) -> list[str]:
    """What bash would offer after ``words`` (the last word is the one being completed)."""
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    result = CliRunner().invoke(
        app,
        [],
        env={
            "_HYPERKVASIR_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(cword),
            **(env or {}),
        },
        prog_name="hyperkvasir",
    )
    assert result.exit_code == 0, result.stderr
    return result.stdout.split()


def test_committed_scripts_are_what_the_app_generates_now() -> None:
    generator = load_generator()
    assert generator.stale_scripts() == [], "run `python completions/generate.py` and commit"


def test_the_zsh_script_keeps_compdef_on_its_first_line() -> None:
    assert ZSH_SCRIPT.read_text().splitlines()[0] == "#compdef hyperkvasir"


def test_bash_loads_the_script_and_completes_a_command(shell_env: dict[str, str]) -> None:
    bash = shell_or_skip("bash")
    registered = run_shell(
        [bash, "--norc", "--noprofile", "-c", f"source {BASH_SCRIPT} && complete -p hyperkvasir"],
        shell_env,
    )
    assert "-F _hyperkvasir_completion hyperkvasir" in registered
    offered = run_shell(
        [
            bash,
            "--norc",
            "--noprofile",
            "-c",
            f"source {BASH_SCRIPT}; COMP_WORDS=(hyperkvasir d); COMP_CWORD=1; "
            '_hyperkvasir_completion hyperkvasir; printf "%s\\n" "${COMPREPLY[@]}"',
        ],
        shell_env,
    )
    assert offered.split() == ["download"]


def test_zsh_loads_the_script_sourced_and_from_fpath(shell_env: dict[str, str]) -> None:
    zsh = shell_or_skip("zsh")
    sourced = run_shell(
        [
            zsh,
            "-fc",
            f"autoload -U compinit && compinit -u -D && source {ZSH_SCRIPT} && "
            "print -r -- ${_comps[hyperkvasir]}",
        ],
        shell_env,
    )
    assert sourced.strip() == "_hyperkvasir_completion"
    # Installed in $fpath, compinit autoloads it on the first Tab, which must complete.
    # `_arguments` (zsh's completion builtin) is replaced by a stub that prints its spec.
    autoloaded = run_shell(
        [
            zsh,
            "-fc",
            f"fpath=({COMPLETIONS} $fpath); autoload -U compinit && compinit -u -D; "
            "_arguments() { print -r -- $@ }; words=(hyperkvasir d); CURRENT=2; _hyperkvasir; "
            "print -r -- SECOND-TAB; words=(hyperkvasir s); _hyperkvasir",
        ],
        shell_env,
    )
    first, second = autoloaded.split("SECOND-TAB")
    assert '"download":' in first
    # Every later Tab runs the same autoloaded body again, and must complete too.
    assert '"sync":' in second and '"stats":' in second


def test_fish_loads_the_script_and_completes_a_command(shell_env: dict[str, str]) -> None:
    fish = shell_or_skip("fish")
    offered = run_shell(
        [fish, "--no-config", "-c", f"source {FISH_SCRIPT}; complete -C 'hyperkvasir d'"],
        shell_env,
    )
    assert [line.split("\t")[0] for line in offered.splitlines()] == ["download"]


def test_parts_complete_from_the_bundled_manifest() -> None:
    assert complete_in_process("hyperkvasir download seg") == ["segmented-images"]
    offered = complete_in_process("hyperkvasir extract labeled-images ")
    assert "segmented-images" in offered and "labeled-images" not in offered


def test_parts_complete_from_the_manifest_in_effect(tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path / "lab.yaml",
        [part_entry("lab-polyps", "polyps.zip", ["https://mirror.lab.example/polyps.zip"])],
    )
    by_option = complete_in_process(f"hyperkvasir checksum --manifest {manifest} ")
    assert by_option == ["lab-polyps"]
    by_env = complete_in_process(
        "hyperkvasir resume lab", env={"HYPERKVASIR_MANIFEST": str(manifest)}
    )
    assert by_env == ["lab-polyps"]


def test_an_unreadable_manifest_completes_nothing_and_never_fails(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("parts: [{name: \n")
    assert complete_in_process(f"hyperkvasir download -m {broken} ") == []
    assert complete_in_process(f"hyperkvasir download -m {tmp_path / 'absent.yaml'} ") == []


def test_classes_complete_in_every_accepted_spelling() -> None:
    offered = complete_in_process("hyperkvasir extract labeled-images --class pol")
    assert sorted(offered) == ["polyp", "polyps"]
    assert "normal-z-line" in complete_in_process("hyperkvasir extract labeled-images -k normal-z")
