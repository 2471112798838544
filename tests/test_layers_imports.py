"""The import arrows between jaxgan's layers, read from the source with `ast`.

Entry points (main, generate, evaluate, ablate, reproduce, benchmark, render_probe) -> train ->
steps -> losses and models. No library module imports an entry point. The models, the losses,
the step and the conditioning import no dataset (`jaxgan.data`) and no predictor training loop;
the evaluation imports no simulator; data imports no sampler, model or loop; `jaxgan.labels`
and `jaxgan.camera` are leaves. Every import statement counts, also one inside a function.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / 'jaxgan'
ENTRY_POINTS = tuple(f'jaxgan.{name}' for name in (
    'main', 'generate', 'evaluate', 'ablate', 'reproduce', 'benchmark', 'render_probe'))
MODEL_LAYERS = ('models/*.py', 'losses.py', 'steps.py', 'conditioning.py')
NOT_BELOW_MODELS = ('jaxgan.data', 'jaxgan.predictor_training')
SIMULATORS = ('jaxgan.data.toy_iact',)
DATA_MAY_IMPORT = ('jaxgan.data', 'jaxgan.labels', 'jaxgan.camera')
LEAVES = ('labels.py', 'camera.py')


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
  return [pytest.param(file, module, id=f'{file}-{module}')
          for file in files for module in forbidden]


def _library_files() -> list[str]:
  entry_files = {name.split('.')[-1] + '.py' for name in ENTRY_POINTS}
  return [file for file in _files('*.py', '*/*.py') if file not in entry_files]


def test_imported_modules_reads_every_kind_of_import(tmp_path):
  """The reader itself, on a file with each form of import."""
  module = tmp_path / 'models' / 'example.py'
  module.parent.mkdir()
  module.write_text('import os.path\nfrom jaxgan.data import toy_iact as sim\n'
                    'from . import layers\n\ndef f():\n  from .. import evaluate\n')
  assert imported_modules(module, tmp_path) == {
      'os.path', 'jaxgan.data.toy_iact', 'jaxgan.models.layers', 'jaxgan.evaluate'}


@pytest.mark.parametrize('file, module', _cases(_files(*MODEL_LAYERS), NOT_BELOW_MODELS))
@pytest.mark.fast
def test_models_losses_and_steps_import_no_data_or_predictor_loop(file, module):
  found = sorted(name for name in imported_modules(PACKAGE / file) if _within(name, module))
  assert not found, f'jaxgan/{file} imports {found}'


@pytest.mark.parametrize('file, module', _cases(_files('evaluation/*.py'), SIMULATORS))
@pytest.mark.fast
def test_the_evaluation_imports_no_simulator(file, module):
  found = sorted(name for name in imported_modules(PACKAGE / file) if _within(name, module))
  assert not found, f'jaxgan/{file} imports {found}'


@pytest.mark.parametrize('file', _library_files())
@pytest.mark.fast
def test_no_library_module_imports_an_entry_point(file):
  found = sorted(name for name in imported_modules(PACKAGE / file)
                 if any(_within(name, entry) for entry in ENTRY_POINTS))
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
