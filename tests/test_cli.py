"""The command-line entry points import side by side and define their flags only when run."""

import importlib

import pytest
from absl import flags

COMMANDS = ('main', 'generate', 'evaluate', 'ablate', 'reproduce', 'benchmark', 'render_probe')


@pytest.mark.fast
def test_entry_points_import_together_and_define_no_flag_on_import():
  for name in COMMANDS:
    module = importlib.import_module(f'jaxgan.{name}')
    define_flags = getattr(module, '_define_flags')
    assert callable(module.main) and callable(define_flags), name
  defining = [module for module in flags.FLAGS.flags_by_module_dict() if 'jaxgan' in module]
  assert not defining
