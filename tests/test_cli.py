"""The command-line entry points import side by side and define their flags only when run."""

import importlib

import pytest
from absl import flags

COMMANDS = ('main', 'generate', 'evaluate', 'ablate', 'reproduce', 'benchmark', 'render_probe')


@pytest.mark.fast
def test_entry_points_import_together_and_define_no_flag_on_import():
  before = set(flags.FLAGS)
  for name in COMMANDS:
    module = importlib.import_module(f'jaxgan.{name}')
    assert callable(module.main) and callable(module._define_flags), name  # pylint: disable=protected-access
  assert set(flags.FLAGS) == before
