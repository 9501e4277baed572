"""CI runs the README's own commands: keep .ci/run and the README saying the same thing."""
from conftest import ROOT


def test_ci_runs_the_readme_commands_word_for_word():
    readme = (ROOT / "README.md").read_text()
    commands = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip().startswith((".venv/", "python3 -m venv"))]
    assert len(commands) == 2, commands
    for command in commands:
        assert command in readme, f"README lacks the CI command: {command}"
