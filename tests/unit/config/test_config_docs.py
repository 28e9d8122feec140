"""docs/config.md is generated from the config schema, so the two never disagree; every key
a user can write in an experiment YAML says what it does (`Field(description=...)`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from hpo.config import schema as config
from tools.config_docs import DOC_PATH, model_sections, render

REPO = Path(__file__).resolve().parents[3]


def _subclasses(cls: type[BaseModel]) -> set[type[BaseModel]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_docs_config_md_is_up_to_date() -> None:
    doc = REPO / DOC_PATH
    assert doc.is_file(), f"{DOC_PATH} missing: run `make config-docs`"
    assert doc.read_text(encoding="utf-8") == render(), \
        f"{DOC_PATH} is stale against hpo/config/schema.py: run `make config-docs` and commit it"


def test_every_config_field_has_a_description() -> None:
    missing = [f"{section.path}.{name}" if section.path else name
               for section in model_sections()
               for name, field in section.model.model_fields.items()
               if not (field.description or "").strip()]
    assert not missing, f"config fields without Field(description=...): {missing}"


def test_every_config_model_is_documented() -> None:
    """The walk behind the docs reaches every section model of the schema module, so a new
    section cannot stay out of docs/config.md (and out of the description check above)."""
    walked = {section.model for section in model_sections()}
    schema = {m for m in _subclasses(config._Strict) if m.__module__ == config.__name__}
    assert schema - walked == set(), f"config models the docs never reach: {schema - walked}"


def test_a_row_gives_type_default_bounds_and_choices() -> None:
    text = render()
    assert "| `model.tiny.vocab_size` | int | `330` | >= 64 | " in text
    assert "| `model.lora.dropout` | float | `0.05` | >= 0; < 1 | " in text
    assert '| `train.precision` | str | `"fp32"` | `"fp32"`, `"bf16-mixed"` | ' in text
    assert "| `search.baseline` | str or null | `\"search_spaces/alpaca-default.yaml\"` |  | " in text
    assert "| `search.halving.rungs` | list of int | `[1, 2, 3]` | at least 1 item(s) | " in text


def test_render_is_deterministic_and_names_every_key() -> None:
    text = render()
    assert text == render()
    for key in ("name", "model.tiny.hidden_size", "search.halving.rungs", "run.transport",
                "train.val_loss_tokens", "tracking.register_winner"):
        assert f"| `{key}` |" in text, key
