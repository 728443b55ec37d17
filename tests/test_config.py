import re
import tomllib
from dataclasses import fields

from portal import config


def test_config_template_is_valid_toml_that_names_every_setting_at_its_default():
    text = config.template()
    assert tomllib.loads(text) == {name: {} for name in config.SECTIONS}  # all commented out
    uncommented = re.sub(r"^# (\w+ = )", r"\1", text, flags=re.MULTILINE)
    document = tomllib.loads(uncommented)
    settings = config.from_mapping(document, environ={}, source="template")
    assert config.describe(settings) == config.describe(config.from_mapping({}, environ={}))
    named = {f"{section}.{key}" for section, table in document.items() for key in table}
    secrets = {
        f"{name}.{spec.name}"
        for name, cls in config.SECTIONS.items()
        for spec in fields(cls)
        if spec.metadata["secret"]
    }
    assert named | secrets == {key for key, _, _ in config.describe(settings)}
