"""The README is the landing page and docs/ the manual: every relative link in them resolves (the file, and the
#anchor where one is given, as GitHub slugs the target's headings), the README links every page of the manual and every
claim's page, each page opens with its summary and its commands, and every claim preset has its page."""
import re
from pathlib import Path

import pytest

from conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def prose(text: str) -> str:
    """The text a reader sees as prose: no fenced code, no inline code."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the text of its links, lower case, punctuation out, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen, out = {}, set()
    for line in FENCE.sub("", path.read_text()).splitlines():
        if m := re.match(r"#{1,6} (.+)", line):
            s = slug(m.group(1))
            n = seen.get(s, 0)
            seen[s] = n + 1
            out.add(s if n == 0 else f"{s}-{n}")
    return out


def test_slug_is_githubs():
    assert slug("Initialisation (`model.init`, every LSTM: `lstm`, `lstm_cell`, `lstm_triton`)") == \
        "initialisation-modelinit-every-lstm-lstm-lstm_cell-lstm_triton"
    assert slug("The T50 search: the headline's protocol") == "the-t50-search-the-headlines-protocol"
    assert slug("Diagnostics: *why* a model learns") == "diagnostics-why-a-model-learns"


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_every_relative_link_resolves(page):
    broken = []
    for target in LINK.findall(prose(page.read_text())):
        if re.match(r"[a-z][a-z+.-]*:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target}: no heading with that anchor in {path.relative_to(ROOT)}")
    assert not broken, broken


def test_the_readme_is_a_landing_page_that_links_the_whole_manual():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in LINK.findall(prose(readme))}
    pages = [p for p in sorted((ROOT / "docs").rglob("*.md"))]
    assert [p.relative_to(ROOT).as_posix() for p in pages if p.resolve() not in linked] == []
    assert "## Headline" in readme  # the lead fills it from a real run of +experiment=headline


def test_each_page_opens_with_its_summary_and_commands():
    for page in sorted((ROOT / "docs").rglob("*.md")):
        head = page.read_text().splitlines()[:16]
        assert head[0].startswith("# "), page
        assert any(line.startswith(("```", "    ")) for line in head), f"{page}: no commands at its top"


def test_every_claim_preset_has_its_page_and_the_reverse():
    presets = {p.stem for p in (ROOT / "conf" / "experiment" / "claims").glob("*.yaml")}
    pages = {p.stem for p in (ROOT / "docs" / "claims").glob("*.md")}
    assert presets == pages
    for cid in presets:
        head = (ROOT / "conf" / "experiment" / "claims" / f"{cid}.yaml").read_text().splitlines()[:6]
        assert f"docs/claims/{cid}.md" in "\n".join(head) and f"#   python run.py -m +experiment/claims={cid}" in head, cid


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_no_table_is_cut_in_two(page):
    """A blank line between two rows ends the table: the rows after it render as a paragraph of pipes."""
    lines = FENCE.sub("", page.read_text()).splitlines() + [""]
    cut = [lines[i + 1][:60] for i in range(1, len(lines) - 2) if lines[i] == "" and lines[i - 1].startswith("|")
           and lines[i + 1].startswith("|") and not re.match(r"\|[-:| ]+\|$", lines[i + 2])]
    assert not cut, cut
