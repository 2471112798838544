"""One training run per workdir and one evaluation per eval/ folder (`jaxgan.locks`)."""

import os
import signal
import socket
import subprocess
import sys

import pytest

from jaxgan import locks
from jaxgan import train
from jaxgan.evaluation import telescope
from tests.helpers import tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HOLD = ('import fcntl, os, sys, time\n'
        'lock = open(os.path.join(sys.argv[1], ".lock"), "a+")\n'
        'fcntl.flock(lock, fcntl.LOCK_EX)\n'
        'lock.truncate(0); lock.write(f"pid {os.getpid()} on elsewhere"); lock.flush()\n'
        'print("held", flush=True)\n'
        'time.sleep(120)\n')


@pytest.fixture
def other_process(tmp_path):
  """A separate process that holds tmp_path's lock until it is killed."""
  holder = subprocess.Popen([sys.executable, '-c', HOLD, str(tmp_path)], stdout=subprocess.PIPE,
                            text=True)
  assert holder.stdout.readline().strip() == 'held'
  yield holder
  holder.kill()
  holder.wait()


@pytest.mark.fast
def test_a_second_holder_is_refused_with_the_first_ones_pid_and_host(tmp_path):
  with locks.held(str(tmp_path), 'a training run'):
    with pytest.raises(locks.Busy, match=f'a training run \\(pid {os.getpid()} on '
                                         f'{socket.gethostname()}\\)'):
      with locks.held(str(tmp_path), 'a training run'):
        pass
  with locks.held(str(tmp_path), 'a training run'):  # released at the end of the block
    pass


@pytest.mark.fast
def test_the_kernel_releases_the_lock_of_a_killed_process(tmp_path, other_process):
  with pytest.raises(locks.Busy, match=f'pid {other_process.pid} on elsewhere'):
    with locks.held(str(tmp_path), 'a training run'):
      pass
  other_process.send_signal(signal.SIGKILL)
  other_process.wait()
  with locks.held(str(tmp_path), 'a training run'):
    pass


@pytest.mark.fast
def test_a_second_training_run_on_a_workdir_is_refused_before_it_starts(tmp_path,
                                                                        other_process):
  with pytest.raises(locks.Busy, match=f'in use by a training run \\(pid {other_process.pid}'):
    train.train_and_evaluate(tiny_config(), str(tmp_path))
  assert sorted(os.listdir(tmp_path)) == ['.lock']  # no config.json, no log, nothing written


@pytest.mark.fast
def test_a_second_evaluation_of_a_run_is_refused(tmp_path):
  eval_dir = tmp_path / 'eval'
  eval_dir.mkdir()
  with locks.held(str(eval_dir), 'an evaluation'):
    with pytest.raises(locks.Busy, match='in use by an evaluation'):
      telescope.evaluate_run(str(tmp_path))


def test_the_command_line_refuses_a_busy_workdir_in_one_line(tmp_path, other_process):
  result = subprocess.run(
      [sys.executable, '-m', 'jaxgan.main', '--config=experiments/mixture2d.py',
       f'--workdir={tmp_path}'], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      f'jaxgan.main: {tmp_path} is in use by a training run (pid {other_process.pid} on '
      'elsewhere): wait for it to end, or use another folder')
  assert 'Traceback' not in result.stderr
