"""The import arrows between jaxgan's layers, read from the source with `ast`.

Entry points (main, generate, evaluate, ablate, reproduce, benchmark, render_probe) -> train ->
steps -> losses and models. The models, the losses, the step, the conditioning and the evaluation
import no dataset (`jaxgan.data`), no predictor training loop and no entry point; data imports no
sampler, model or loop; `jaxgan.labels` and `jaxgan.camera` are leaves. Every import statement
counts, also one inside a function.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / 'jaxgan'
ENTRY_POINTS = tuple(f'jaxgan.{name}' for name in (
    'main', 'generate', 'evaluate', 'ablate', 'reproduce', 'benchmark', 'render_probe'))
LOWER_LAYERS = ('models/*.py', 'losses.py', 'steps.py', 'conditioning.py', 'evaluation/*.py')
NOT_BELOW = ('jaxgan.data', 'jaxgan.predictor_training') + ENTRY_POINTS
DATA_MAY_IMPORT = ('jaxgan.data', 'jaxgan.labels', 'jaxgan.camera')
LEAVES = ('labels.py', 'camera.py')
FIXED_ELSEWHERE = {  # rules that the code breaks today and that another change mends
    ('steps.py', 'jaxgan.predictor_training'): 'the predictor step moves into steps.py',
    ('train.py', 'jaxgan.evaluate'): 'the periodic evaluation moves into jaxgan/evaluation/',
}


def imported_modules(path: pathlib.Path, root: pathlib.Path = PACKAGE) -> set[str]:
  """Every module (or module attribute) that `path`, a file under the package folder `root`,
  imports, as dotted names; relative imports are resolved against its package."""
  package = '.'.join(('jaxgan',) + path.relative_to(root).parent.parts)
  names = set()
  for node in ast.walk(ast.parse(path.read_text(), str(path))):
    if isinstance(node, ast.Import):
      names.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ''
      if node.level:
        parent = package.rsplit('.', node.level - 1)[0] if node.level > 1 else package
        base = f'{parent}.{base}' if base else parent
      names.update(f'{base}.{alias.name}' for alias in node.names)
  return names


def _within(name: str, module: str) -> bool:
  return name == module or name.startswith(module + '.')


def _files(*patterns: str) -> list[str]:
  return sorted(str(path.relative_to(PACKAGE)) for pattern in patterns
                for path in PACKAGE.glob(pattern))


def _cases(files: list[str], forbidden: tuple[str, ...]) -> list:
  cases = []
  for file in files:
    for module in forbidden:
      reason = FIXED_ELSEWHERE.get((file, module))
      marks = [pytest.mark.xfail(strict=False, reason=reason)] if reason else []
      cases.append(pytest.param(file, module, marks=marks, id=f'{file}-{module}'))
  return cases


def test_imported_modules_reads_every_kind_of_import(tmp_path):
  """The reader itself, on a file with each form of import."""
  module = tmp_path / 'models' / 'example.py'
  module.parent.mkdir()
  module.write_text('import os.path\nfrom jaxgan.data import toy_iact as sim\n'
                    'from . import layers\n\ndef f():\n  from .. import evaluate\n')
  assert imported_modules(module, tmp_path) == {
      'os.path', 'jaxgan.data.toy_iact', 'jaxgan.models.layers', 'jaxgan.evaluate'}


@pytest.mark.parametrize('file, module', _cases(_files(*LOWER_LAYERS), NOT_BELOW))
def test_lower_layers_do_not_import_upwards(file, module):
  found = sorted(name for name in imported_modules(PACKAGE / file) if _within(name, module))
  assert not found, f'jaxgan/{file} imports {found}'


@pytest.mark.parametrize('file, module', _cases(['train.py'], ENTRY_POINTS))
def test_the_loop_imports_no_entry_point(file, module):
  found = sorted(name for name in imported_modules(PACKAGE / file) if _within(name, module))
  assert not found, f'jaxgan/{file} imports {found}'


@pytest.mark.parametrize('file', _files('data/*.py'))
def test_data_imports_only_data_labels_and_camera(file):
  found = sorted(name for name in imported_modules(PACKAGE / file)
                 if _within(name, 'jaxgan')
                 and not any(_within(name, allowed) for allowed in DATA_MAY_IMPORT))
  assert not found, f'jaxgan/{file} imports {found}'


@pytest.mark.parametrize('file', LEAVES)
def test_leaves_import_nothing_of_jaxgan(file):
  found = sorted(name for name in imported_modules(PACKAGE / file) if _within(name, 'jaxgan'))
  assert not found, f'jaxgan/{file} imports {found}'
