"""The command-line entry points import side by side, define their flags only when run, and end:
one line for a user's error, and no process kept alive by a stuck thread."""

import importlib
import os
import subprocess
import sys
import threading
import time

import pytest
from absl import flags

from jaxgan import cli

COMMANDS = ('main', 'generate', 'evaluate', 'ablate', 'reproduce', 'benchmark', 'render_probe')


@pytest.mark.fast
def test_entry_points_import_together_and_define_no_flag_on_import():
  for name in COMMANDS:
    module = importlib.import_module(f'jaxgan.{name}')
    define_flags = getattr(module, '_define_flags')
    assert callable(module.main) and callable(define_flags), name
  defining = [module for module in flags.FLAGS.flags_by_module_dict() if 'jaxgan' in module]
  assert not defining


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_FILE = '''
from tests import helpers

def get_config():
  config = helpers.tiny_config(num_steps=4, checkpoint_every=2)
  config.predictor.num_steps = 1
  return config
'''
# jaxgan.main as a user runs it, but every checkpoint folder Orbax makes in its background save
# thread is refused, as on a workdir made read-only mid-run.
READ_ONLY_CHECKPOINTS = '''
import os, sys
real_makedirs = os.makedirs

def refusing_makedirs(path, *args, **kwargs):
  if 'orbax-checkpoint-tmp' in os.fspath(path):
    raise PermissionError(13, 'Permission denied', os.fspath(path))
  return real_makedirs(path, *args, **kwargs)

os.makedirs = refusing_makedirs
from jaxgan import cli, main
cli.THREAD_GRACE_S = 2.0
sys.argv = ['jaxgan.main', *sys.argv[1:]]
cli.run(main.main, main._define_flags)
'''


def test_a_failed_background_save_ends_the_run_with_one_line_and_status_1(tmp_path):
  config_path = tmp_path / 'config.py'
  config_path.write_text(CONFIG_FILE)
  result = subprocess.run(
      [sys.executable, '-c', READ_ONLY_CHECKPOINTS, f'--config={config_path}',
       f'--workdir={tmp_path / "run"}'], cwd=REPO, capture_output=True, text=True, timeout=240)
  assert result.returncode == 1, result.stderr[-3000:]
  lines = result.stderr.strip().splitlines()
  assert lines[-2].startswith('jaxgan.main: [Errno 13] Permission denied:'), lines[-2:]
  assert 'thread(s) still running after the command ended' in lines[-1]


@pytest.mark.fast
@pytest.mark.parametrize('ending,status,printed', [
    (SystemExit(None), 0, ''), (SystemExit(3), 3, ''), (SystemExit('jaxgan.main: bad'), 1,
                                                         'jaxgan.main: bad'),
    (KeyboardInterrupt(), 130, 'KeyboardInterrupt'), (TypeError('bug'), 1, 'TypeError: bug')])
def test_an_abandoned_ending_keeps_the_status_and_message_python_would_give(
    ending, status, printed, capsys):
  assert cli.report_ending(ending) == status
  assert printed in capsys.readouterr().err


@pytest.mark.fast
def test_only_threads_alive_past_the_grace_period_count_as_stuck():
  release = threading.Event()
  quick = threading.Thread(target=time.sleep, args=(0.2,), name='quick')
  stuck = threading.Thread(target=release.wait, name='stuck')
  quiet = threading.Thread(target=release.wait, name='daemon', daemon=True)
  for thread in (quick, stuck, quiet):
    thread.start()
  try:
    assert [thread.name for thread in cli.stuck_threads(1.0)] == ['stuck']
  finally:
    release.set()


@pytest.mark.fast
def test_a_full_disk_says_so_whatever_wrote():
  assert cli.describe(OSError(28, 'No space left on device')) == (
      'disk full: [Errno 28] No space left on device')
  assert cli.describe(OSError(2, 'No such file')) == '[Errno 2] No such file'
