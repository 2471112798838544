"""Multi-process training: flag validation, each process's part of the batch, and 2 processes x 2
devices against 1 process x 4 devices."""

import os
import signal
import socket
import subprocess
import sys
import time
from typing import Callable

import jax
import numpy as np
import pytest

from jaxgan import checkpoint
from jaxgan import distributed
from jaxgan import logs
from jaxgan import predictor_training
from jaxgan import train
from jaxgan.data import pipeline
from jaxgan.data.split import Split
from tests.helpers import tiny_config
from tests.helpers import tiny_mixture_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPLICIT = {'coordinator_address': 'host:1234', 'num_processes': 2, 'process_id': 1}


@pytest.mark.parametrize('mode,environ,expected', [
    ('auto', {}, None),
    ('auto', {'SLURM_STEP_NUM_TASKS': '1', 'SLURM_JOB_ID': '7'}, None),
    ('auto', {'SLURM_STEP_NUM_TASKS': '2'}, {}),
    ('auto', {'OMPI_COMM_WORLD_SIZE': '4'}, {}),
    ('on', {}, {}),
    ('off', {'SLURM_STEP_NUM_TASKS': '2'}, None),
])
def test_without_explicit_flags_the_mode_and_launcher_decide(mode, environ, expected):
  assert distributed.initialize_arguments(mode, None, None, None, environ) == expected


@pytest.mark.parametrize('mode', ['auto', 'on'])
def test_explicit_flags_are_passed_on(mode):
  arguments = distributed.initialize_arguments(mode, 'host:1234', 2, 1, {})
  assert arguments == EXPLICIT


@pytest.mark.parametrize('mode,flags,message', [
    ('auto', ('host:1234', None, None), 'give all three or none'),
    ('auto', (None, 2, 0), 'give all three or none'),
    ('off', ('host:1234', 2, 0), 'contradicts'),
    ('auto', ('host:1234', 2, 2), 'process_id=2'),
    ('sometimes', (None, None, None), 'choose one of'),
])
@pytest.mark.fast
def test_bad_flags_are_refused(mode, flags, message):
  with pytest.raises(ValueError, match=message):
    distributed.initialize_arguments(mode, *flags, {})


@pytest.mark.fast
def test_main_refuses_some_of_the_three_flags(tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'jaxgan.main', '--config=experiments/ctgan.py',
       f'--workdir={tmp_path}', '--coordinator=127.0.0.1:1234', '--process_id=0'],
      cwd=REPO, capture_output=True, text=True, timeout=120)
  assert result.returncode != 0
  assert 'give all three or none' in result.stderr
  assert not os.listdir(tmp_path)


class RecordingImages:
  """Images that remember which rows were read."""

  def __init__(self, images: np.ndarray):
    self.images, self.read = images, []

  def __len__(self) -> int:
    return len(self.images)

  def __getitem__(self, indices):
    self.read.extend(np.asarray(indices).tolist())
    return self.images[indices]


@pytest.mark.parametrize('process_count', [2, 4])
def test_each_process_reads_and_gets_its_devices_rows_of_the_global_batch(process_count):
  rng = np.random.default_rng(0)
  images = rng.normal(size=(40, 3, 3, 1)).astype(np.float32)
  labels = {'energy': np.arange(40, dtype=np.float32)}
  norm = pipeline.Normalisation(scale=2.0)
  whole = pipeline.training_batch(Split(images, labels), 16, seed=1, step=5, normalisation=norm,
                                  num_devices=8)
  for index in range(process_count):
    recording = RecordingImages(images)
    part = pipeline.training_batch(Split(recording, labels), 16, seed=1, step=5,
                                   normalisation=norm, num_devices=8, process_index=index,
                                   process_count=process_count)
    local = 8 // process_count
    devices = slice(index * local, (index + 1) * local)
    np.testing.assert_array_equal(part['images'], whole['images'][devices])
    np.testing.assert_array_equal(part['labels']['energy'], whole['labels']['energy'][devices])
    assert sorted(recording.read) == sorted(part['labels']['energy'].reshape(-1).astype(int))


CONFIG_FILE = """
from tests.helpers import tiny_mixture_config


def get_config():
  return tiny_mixture_config(num_devices=0)  # all devices of every process: 2 x 2
"""


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def start_two_processes(command: Callable[[str, int], list[str]]) -> list[subprocess.Popen]:
  """`command(coordinator, process_id)` started as 2 processes of 2 fake CPU devices each."""
  env = {**os.environ, 'XLA_FLAGS': '--xla_force_host_platform_device_count=2',
         'JAX_PLATFORMS': 'cpu', 'JAX_CPU_COLLECTIVES_IMPLEMENTATION': 'gloo'}
  coordinator = f'127.0.0.1:{free_port()}'
  return [subprocess.Popen([sys.executable, *command(coordinator, index)], cwd=REPO, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
          for index in range(2)]


# Seconds a launch may take before it counts as hung: generous, since on a loaded 2-core machine
# one launch of the telescope predictor took over 4 minutes.
LAUNCH_TIMEOUT = 900


def finish(processes: list[subprocess.Popen], returncode: int = 0) -> None:
  """Waits for `processes`; each must end with `returncode` within LAUNCH_TIMEOUT."""
  try:
    outputs = [process.communicate(timeout=LAUNCH_TIMEOUT)[0] for process in processes]
  finally:
    for process in processes:
      process.kill()
  for process, output in zip(processes, outputs):
    assert process.returncode == returncode, output[-5000:]


def run_two_processes(command: Callable[[str, int], list[str]]) -> None:
  """`command(coordinator, process_id)` as 2 processes; both must succeed."""
  finish(start_two_processes(command))


def main_command(config_path: str, workdir: str, num_steps: int, *flags: str):
  return lambda coordinator, index: [
      '-m', 'jaxgan.main', f'--config={config_path}', f'--workdir={workdir}',
      f'--config.train.num_steps={num_steps}', f'--coordinator={coordinator}',
      '--num_processes=2', f'--process_id={index}', *flags]


def train_two_processes(config_path: str, workdir: str, num_steps: int) -> None:
  run_two_processes(main_command(config_path, workdir, num_steps))


def test_two_processes_match_one_process_with_as_many_devices(tmp_path):
  assert jax.local_device_count() >= 4, 'conftest.py sets 4 fake CPU devices'
  config_path = tmp_path / 'config.py'
  config_path.write_text(CONFIG_FILE)
  workdir = str(tmp_path / 'two')
  train_two_processes(str(config_path), workdir, num_steps=1)  # checkpoint 1
  train_two_processes(str(config_path), workdir, num_steps=2)  # resumes from it: checkpoint 2
  one = train.train_and_evaluate(tiny_mixture_config(num_devices=4), str(tmp_path / 'one'))

  checkpointer = checkpoint.Checkpointer(os.path.join(workdir, 'checkpoints'), 2)
  assert checkpointer.latest_step() == 2
  two = checkpointer.restore_or(one)
  checkpointer.close()
  for x, y in zip(jax.tree.leaves(one), jax.tree.leaves(two), strict=True):
    np.testing.assert_allclose(np.asarray(y, np.float64), np.asarray(x, np.float64),
                               rtol=1e-5, atol=1e-6)
  # Process 0 alone wrote the logs: one row per logged step, with the 1-process values.
  expected = {row['step']: row for row in logs.read_metrics(str(tmp_path / 'one'))
              if 'critic_loss' in row}
  rows = [row for row in logs.read_metrics(workdir) if 'critic_loss' in row]
  assert [row['step'] for row in rows] == [1, 2]
  for row in rows:
    assert row['critic_loss'] == pytest.approx(expected[row['step']]['critic_loss'], rel=1e-5)
  assert len(os.listdir(os.path.join(workdir, 'tensorboard'))) == 2  # one events file per launch


def test_predictor_is_trained_on_process_zero_and_given_to_every_process(tmp_path):
  run_two_processes(lambda coordinator, index: [
      '-m', 'tests.predictor_worker', coordinator, '2', str(index), str(tmp_path)])
  assert sorted(os.listdir(tmp_path)) == ['dataset.json', 'predictor', 'received_0.npz',
                                          'received_1.npz']
  config = tiny_config()
  saved = jax.tree.leaves(predictor_training.load_predictor(
      str(tmp_path / 'predictor'), config.predictor, (43, 43, 1)))
  for index in range(2):
    with np.load(tmp_path / f'received_{index}.npz') as received:
      leaves = [received[f'arr_{i}'] for i in range(len(received.files))]
    assert len(leaves) == len(saved)
    for got, want in zip(leaves, saved):
      np.testing.assert_array_equal(got, np.asarray(want))


def test_sigterm_to_one_process_saves_one_step_on_all_and_exits_143(tmp_path):
  config_path = tmp_path / 'config.py'
  config_path.write_text(CONFIG_FILE)
  workdir = str(tmp_path / 'two')
  processes = start_two_processes(main_command(
      str(config_path), workdir, 100_000, '--config.train.sample_every=100000',
      '--config.train.checkpoint_every=100000'))
  metrics = os.path.join(workdir, 'metrics.jsonl')
  deadline = time.monotonic() + LAUNCH_TIMEOUT
  while not (os.path.exists(metrics) and len(logs.read_metrics(workdir)) > 3):
    assert time.monotonic() < deadline and processes[0].poll() is None, 'no training seen'
    time.sleep(0.5)
  processes[1].send_signal(signal.SIGTERM)  # a preemption notice to one host only
  finish(processes, returncode=128 + signal.SIGTERM)

  checkpointer = checkpoint.Checkpointer(os.path.join(workdir, 'checkpoints'), 2)
  step = checkpointer.latest_step()
  one = train.train_and_evaluate(tiny_mixture_config(num_devices=4, num_steps=step),
                                 str(tmp_path / 'one'))
  saved = checkpointer.restore_or(one)
  checkpointer.close()
  assert int(saved.step) == step
  for x, y in zip(jax.tree.leaves(one), jax.tree.leaves(saved), strict=True):
    np.testing.assert_allclose(np.asarray(y, np.float64), np.asarray(x, np.float64),
                               rtol=1e-4, atol=1e-5)
