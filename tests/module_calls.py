"""A pytest plugin that fails the run if some module under jaxgan/ had none of its functions
called by a test: how `make test-fast` checks that the fast tier touches every module.

  python -m pytest -m fast -p tests.module_calls tests

From the end of the collection on, a global trace function (`sys.settrace`: 'call' events only,
no line tracing) records the file of every function that runs (not a module's or a class's
body, not a comprehension). At the end it names the modules under jaxgan/ whose file is not
among them and sets the exit status to 1. The command-line entry points, whose only functions
are `_define_flags` and `main` (`jaxgan/cli.py` starts them), run in a command's own process,
which the trace does not see: they need only have been imported.
"""

import ast
import inspect
import os
import sys
import threading

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'jaxgan')
COMPREHENSIONS = ('<listcomp>', '<dictcomp>', '<setcomp>', '<genexpr>')
_called_files: set[str] = set()


def _record_call(frame, event, arg):  # pylint: disable=unused-argument
  """Global trace function: notes the file of each function called; traces no lines."""
  code = frame.f_code
  if code.co_flags & inspect.CO_OPTIMIZED and code.co_name not in COMPREHENSIONS:
    _called_files.add(code.co_filename)


def package_files() -> list[str]:
  """The .py files under jaxgan/ that define a function or a class (not the `__init__.py` files
  that only import)."""
  files = []
  for folder, _, names in os.walk(PACKAGE):
    files += [os.path.join(folder, name) for name in names if name.endswith('.py')]
  return sorted(path for path in files if _defines_something(path))


def _defines_something(path: str) -> bool:
  """Whether a file holds a top-level def or class."""
  with open(path) as f:
    return any(line.startswith(('def ', 'class ')) for line in f)


def is_command(path: str) -> bool:
  """Whether a module is a command-line entry point: its functions are `_define_flags` and
  `main` only, or it is `jaxgan/cli.py`, which starts them."""
  with open(path) as f:
    tree = ast.parse(f.read())
  functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
  return path == os.path.join(PACKAGE, 'cli.py') or functions <= {'_define_flags', 'main'}


def _module_file(name: str) -> str | None:
  return getattr(sys.modules.get(name), '__file__', None)


def pytest_collection_finish(session):  # pylint: disable=unused-argument
  sys.settrace(_record_call)
  threading.settrace(_record_call)


def pytest_sessionfinish(session, exitstatus):  # pylint: disable=unused-argument
  sys.settrace(None)
  threading.settrace(None)
  files = package_files()
  imported = {_module_file(name) for name in list(sys.modules) if name.startswith('jaxgan')}
  touched = _called_files | {path for path in imported if path and is_command(path)}
  missing = [os.path.relpath(path, os.path.dirname(PACKAGE)) for path in files
             if path not in touched]
  reporter = session.config.pluginmanager.get_plugin('terminalreporter')
  if missing:
    reporter.write_line(f'modules no test touched: {", ".join(missing)}', red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
  else:
    reporter.write_line(f'every module under jaxgan/ was touched ({len(files)} files)')
