"""docs/config.md is current, every field has a meaning, and comments are read as written."""

import importlib.util
import os

import pytest

from jaxgan import config_reference

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A builder in the style of jaxgan/configs.py, with each kind of comment placement.
BUILDER = '''
import ml_collections


def _inner():
  c = ml_collections.ConfigDict()
  # Heading of a group.
  c.a = 1  # Meaning of a.
  c.b = 2  # Meaning of b,
  # continued below.
  return c


def build():
  config = ml_collections.ConfigDict()
  # Meaning of x, written
  # above it.
  config.x = (1, 2)
  config.inner = _inner()  # The inner section.
  config.inner.a = 5  # Set again: not a definition.
  config.weights = ml_collections.ConfigDict(  # Weights by name.
      {'p': 0.5})
  config.bare = 3

  config.later = 'z'  # Meaning of later.
  config.lock()
  return config
'''
EXPECTED = {
    'x': ('Meaning of x, written above it.', '', False),
    'inner': ('The inner section.', '', True),
    'inner.a': ('Meaning of a.', 'Heading of a group.', False),
    'inner.b': ('Meaning of b, continued below.', '', False),
    'weights': ('Weights by name.', '', False),
    'bare': ('', '', False),
    'later': ('Meaning of later.', '', False),
}


def load_builder(tmp_path):
  path = tmp_path / 'builder_module.py'
  path.write_text(BUILDER)
  spec = importlib.util.spec_from_file_location('builder_module', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_comments_are_read_as_written(tmp_path):
  fields = config_reference.field_docs(load_builder(tmp_path).build)
  assert {path: (field.meaning, field.heading, field.section)
          for path, field in fields.items()} == EXPECTED
  assert list(fields) == list(EXPECTED)  # in the order they are defined


def test_a_field_without_comment_is_reported(tmp_path):
  module = load_builder(tmp_path)
  fields = config_reference.field_docs(module.build)
  assert config_reference.undocumented(module.build(), fields) == ['bare']


def test_every_field_of_every_family_has_a_meaning():
  fields = config_reference.field_docs(*config_reference.BUILDERS)
  for name, build in config_reference.FAMILIES.items():
    assert config_reference.undocumented(build(), fields) == [], name


@pytest.mark.fast
def test_docs_config_md_is_current():
  with open(os.path.join(REPO, 'docs', 'config.md')) as f:
    written = f.read()
  assert written == config_reference.markdown(), (
      f'docs/config.md is stale: run `{config_reference.COMMAND}`')


def test_reference_lists_every_field_with_each_familys_value():
  text = config_reference.markdown()
  assert "| `model.latent_dim` | `telescope()`, `telescope_source_code()`: `512`<br>" \
         "`telescope(size='small')`: `64`<br>`telescope_frame()`, `telescope_frame('hour')`: " \
         "`2368`<br>`pictures()`: `100`<br>`points()`: `2` | Size of " \
         "the latent vector z. |" in text
  assert '| `data.toy_iact.pixel_size_deg` | `0.1` | MAGIC pixel field of view |' in text
  assert '| `predictor.alongside` | `False` |' in text
