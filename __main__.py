"""Compose only: load this stack's config, build the blueprint, export its outputs."""

from pathlib import Path

import pulumi

from stacks.blueprint import build
from stacks.config.runtime import load_stack_config

for output_name, value in build(load_stack_config(Path(__file__).absolute().parent)).items():
    pulumi.export(output_name, value)
