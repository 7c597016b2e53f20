"""Every reference to the documentation in the code resolves: the file exists, and so does the
section it names."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = re.compile(r'docs/([\w-]+\.md)(?:,\s+"([^"]+)")?')


def _sources():
    for folder in ("pgd_bench", "tests", "benchmarks"):
        yield from sorted((ROOT / folder).rglob("*.py"))


def test_every_docs_reference_names_an_existing_file_and_section():
    found = 0
    for path in _sources():
        text = re.sub(r"\s*\n\s*", " ", path.read_text())  # references may wrap across lines
        for name, section in REFERENCE.findall(text):
            if path.name == "test_docs.py":
                continue
            doc = ROOT / "docs" / name
            assert doc.exists(), f"{path.name} cites docs/{name}, which does not exist"
            if section:
                headings = [line.lstrip("#").strip() for line in doc.read_text().splitlines() if line.startswith("#")]
                assert section in headings, f"{path.name} cites section {section!r} of docs/{name}: not a heading"
            found += 1
    assert found >= 10


def test_no_reference_to_documents_outside_the_repository():
    for path in _sources():
        if path.name == "test_docs.py":
            continue
        text = path.read_text()
        for stale in ("MATH.md", "DESIGN.md"):
            assert stale not in text, f"{path.name} cites {stale}, which is not in the repository"


def test_every_file_the_how_to_pages_name_exists():
    """docs/adding-*.md list the files each step touches: every one they name is in the repository."""
    named = set()
    for page in sorted((ROOT / "docs").glob("adding-*.md")):
        for path in re.findall(r"`((?:pgd_bench|tests|benchmarks|docs)/[\w/.-]+\.(?:py|md|c))`", page.read_text()):
            named.add(path)
            assert (ROOT / path).is_file(), f"{page.name} names {path}, which does not exist"
    assert len(named) >= 15  # the three pages name their files by path


def test_design_md_draws_every_module_of_the_package():
    """The layers tree in docs/design.md names every module, so that it cannot fall behind the code."""
    design = (ROOT / "docs" / "design.md").read_text()
    tree = design[design.index("```\npgd_bench/") : design.index("```", design.index("```\npgd_bench/") + 3)]
    for path in sorted((ROOT / "pgd_bench").rglob("*.py")):
        if path.name in ("__init__.py", "__main__.py") or path.parent.name == "sections":
            continue
        assert path.name in tree, f"docs/design.md's layers tree does not name {path.relative_to(ROOT)}"
