"""README's command list against the commands `meterlake --help` offers."""
from __future__ import annotations

import re

from tests.conftest import REPO, run_meterlake


def readme_commands() -> dict[str, set[str]]:
    """The commands in README's "The command line" block: top-level name -> actions named
    after it (``runs publish|abort``), from every line that starts with ``meterlake``."""
    text = (REPO / "README.md").read_text()
    section = text.split("## The command line", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    commands: dict[str, set[str]] = {}
    for line in block.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "meterlake":
            continue
        words = words[1:]
        while words and words[0] == "--lake":
            words = words[2:]
        actions = commands.setdefault(words[0], set())
        if len(words) > 1 and not words[1].startswith("-") and words[0] in ("runs", "token"):
            actions.update(words[1].split("|"))
    return commands


def help_commands(*args: str) -> set[str]:
    """The subcommand names that ``meterlake ARGS --help`` lists under COMMAND or ACTION."""
    done = run_meterlake(*args, "--help", timeout=60)
    assert done.returncode == 0, done.stderr
    listing = re.split(r"\n  (?:COMMAND|ACTION)\n", done.stdout, maxsplit=1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"^    (\S+)", listing, flags=re.M))


def test_readme_lists_every_command_and_only_those():
    readme = readme_commands()
    assert set(readme) == help_commands()
    assert readme["runs"] == help_commands("runs")
    assert readme["token"] == help_commands("token")


def test_help_listing_is_what_the_parser_has():
    from cli.main import build_parser

    parser = build_parser()
    (commands,) = [a for a in parser._actions if a.dest == "command"]
    assert help_commands() == set(commands.choices)
    assert len(help_commands()) >= 13


def readme_layout() -> set[str]:
    """The first path segment, and the second under _meta and _blocks (ids as patterns),
    of every entry in README's lake block."""
    block = (REPO / "README.md").read_text().split("## The lake", 1)[1].split("```", 2)[1]
    entries = set()
    for line in block.splitlines()[2:]:
        for path in re.split(r"\s{2,}", line.strip())[0].split(", "):  # the first column
            parts = path.rstrip("/").split("/")
            entries.add(parts[0])
            if parts[0] in ("_meta", "_blocks") and len(parts) > 1:
                entries.add(parts[0] + "/" + re.sub(r"-(ing|run)-\d{8}$", "", parts[1]))
    return entries


def test_readme_layout_names_every_folder_of_a_lake(tmp_path):
    lake = tmp_path / "lake"
    for command in (["generate", "--icps", "5", "--days", "2", "--start", "2018-06-01", "--seed", "1"],
                    ["runs", "demo", "--count", "1"]):
        done = run_meterlake("--lake", lake, *command, timeout=120)
        assert done.returncode == 0, done.stderr
    found = {p.name for p in lake.iterdir()}
    for folder in ("_meta", "_blocks"):
        found |= {f"{folder}/" + re.sub(r"-(ing|run)-\d{8}$", "", p.name) for p in (lake / folder).iterdir()}
    assert "_blocks/raw" in found
    assert found <= readme_layout()
