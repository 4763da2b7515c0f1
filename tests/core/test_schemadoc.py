from pathlib import Path

from vitalsign.core import schemadoc

SCHEMA_MD = Path(__file__).resolve().parents[2] / "docs" / "schema.md"


def test_schema_doc_matches_the_models():
    text = SCHEMA_MD.read_text()
    assert schemadoc.update(text) == text, (
        "docs/schema.md is out of date: run `python -m vitalsign.core.schemadoc docs/schema.md`"
    )
