"""The README's config reference is generated; it must match the schema it documents."""

from pathlib import Path

from stacks.offline.docs import BEGIN, END, render_reference
from stacks.config.sources import read_project
from stacks.config.settings import StackSettings

REPO = Path(__file__).resolve().parents[2]


def test_readme_config_reference_is_up_to_date():
    readme = (REPO / "README.md").read_text()
    committed = readme[readme.index(BEGIN): readme.index(END) + len(END)]
    assert committed == render_reference(REPO), "run ./blueprint docs and commit README.md"


def test_every_stack_setting_is_declared_in_pulumi_yaml_and_every_declaration_is_read():
    declared = {k.split(":", 1)[1] for k in read_project(REPO).declarations}
    settings = set(StackSettings.model_fields) - {"region", "allowedAccountIds"}  # provider keys
    assert declared == settings | {"tables", "access", "api", "functions"}


def test_pulumi_types_match_the_model_types():
    # The CLI checks the declared type before the program runs; it must agree with the model.
    expected = {bool: "boolean", int: "integer", list[str]: "array"}
    for key, decl in read_project(REPO).declarations.items():
        field = StackSettings.model_fields.get(key.split(":", 1)[1])
        if field is None or decl.type is None:
            continue
        assert decl.type == expected.get(field.annotation, "string"), key
