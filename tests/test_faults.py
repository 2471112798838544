"""The faults a long run meets: non-finite values, preemption, damaged checkpoints, a changed
config, a full disk. Each fault is made for real (a NaN in the data, a signal to this process,
truncated files) and the outcome compared with an uninterrupted run."""

import errno
import json
import os
import shutil
import signal

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from jaxgan import checkpoint
from jaxgan import generation
from jaxgan import main as main_lib
from jaxgan import train
from jaxgan.data import pipeline
from tests.helpers import tiny_config


def fault_config(**train_overrides):
  """The tiny config without a predictor (nothing to pretrain), checkpoints at 2, 4, ...; batches
  sent from the host, where `at_step` can spoil them."""
  config = tiny_config(**train_overrides)
  config.model.conditioning = 'cgan'
  config.train.data_on_device = 'never'
  return config


def assert_trees_equal(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def checkpoint_steps(workdir):
  return sorted(int(name) for name in os.listdir(os.path.join(workdir, 'checkpoints'))
                if name.isdigit())


@pytest.fixture(scope='module')
def straight(tmp_path_factory):
  """An uninterrupted 4-step run (checkpoints 2 and 4): (workdir, final state)."""
  workdir = str(tmp_path_factory.mktemp('straight'))
  return workdir, train.train_and_evaluate(fault_config(num_steps=4), workdir)


def at_step(monkeypatch, step, action):
  """Runs `action(batch)` on the training batch of iteration `step` (0-based) of later runs."""
  original = pipeline.training_batch

  def training_batch(split, batch_size, seed, index, *args):
    batch = original(split, batch_size, seed, index, *args)
    if index == step:
      action(batch)
    return batch

  monkeypatch.setattr(pipeline, 'training_batch', training_batch)


def poison(batch):
  batch['images'][0, 0, 5, 5, 0] = np.nan


def test_nan_in_the_data_stops_naming_the_step_and_saves_nothing_of_it(tmp_path, monkeypatch):
  # Logged only at steps 1 and 6: the NaN of step 3 is caught by the check that follows the
  # next iteration's launch, before step 4's checkpoint.
  at_step(monkeypatch, 2, poison)
  workdir = str(tmp_path)
  config = fault_config(num_steps=6, log_every=10, sample_every=10)
  with pytest.raises(FloatingPointError, match=r'non-finite .*critic_loss.* at step 3;'):
    train.train_and_evaluate(config, workdir)
  assert checkpoint_steps(workdir) == [2]
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    assert [json.loads(line)['step'] for line in f] == [1]  # nothing written after the NaN
  _, state, _ = checkpoint.restore_state(workdir, 2)
  assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(state))


def test_skip_mode_drops_the_updates_of_a_nan_batch_and_counts_them(
    tmp_path, monkeypatch, straight):
  _, before, _ = checkpoint.restore_state(straight[0], 2)  # 'skip' changes nothing finite
  at_step(monkeypatch, 2, poison)
  after = train.train_and_evaluate(fault_config(num_steps=3, nonfinite='skip'),
                                   str(tmp_path / 'three_steps'))
  # Step 3's 2 critic updates saw the NaN and were dropped; its generator update (fakes only)
  # was made.
  assert int(after.nonfinite_updates) == 2
  assert_trees_equal((before.critic_params, before.critic_opt_state),
                     (after.critic_params, after.critic_opt_state))
  assert not np.array_equal(jax.tree.leaves(before.generator_params)[0],
                            jax.tree.leaves(after.generator_params)[0])
  assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(after))


def test_sigterm_saves_the_current_step_and_the_rerun_continues_bit_for_bit(
    tmp_path, monkeypatch, straight):
  handler = signal.getsignal(signal.SIGTERM)
  at_step(monkeypatch, 2, lambda batch: os.kill(os.getpid(), signal.SIGTERM))
  workdir = str(tmp_path)
  with pytest.raises(train.Preempted, match='SIGTERM at step 3') as stopped:
    train.train_and_evaluate(fault_config(num_steps=4), workdir)
  assert (stopped.value.step, stopped.value.signum) == (3, signal.SIGTERM)
  assert checkpoint_steps(workdir) == [2, 3]
  assert signal.getsignal(signal.SIGTERM) is handler
  monkeypatch.undo()
  resumed = train.train_and_evaluate(fault_config(num_steps=4), workdir)
  assert_trees_equal(straight[1], resumed)


@pytest.mark.fast
def test_main_exits_with_the_signal_status_after_a_preemption(monkeypatch, tmp_path):
  def preempted(*args):
    raise train.Preempted(3, signal.SIGTERM)

  monkeypatch.setattr(train, 'train_and_evaluate', preempted)
  values = {'config': fault_config(), 'workdir': str(tmp_path), 'allow_config_change': False,
            'distributed': 'auto', 'coordinator': None, 'num_processes': None,
            'process_id': None}
  with pytest.raises(SystemExit) as exit_info:
    main_lib.main(values)
  assert exit_info.value.code == 128 + signal.SIGTERM


def damage(workdir, step):
  """Truncates every file of checkpoint `step` to half its size, as a crash mid-write might."""
  for folder, _, files in os.walk(os.path.join(workdir, 'checkpoints', str(step))):
    for name in files:
      path = os.path.join(folder, name)
      os.truncate(path, os.path.getsize(path) // 2)


def remove_item_folder(workdir, step):
  """Deletes the item folder of checkpoint `step`, leaving its metadata, as a copy cut short
  might."""
  shutil.rmtree(os.path.join(workdir, 'checkpoints', str(step), 'default'))


@pytest.mark.parametrize('damage_newest', [damage, remove_item_folder])
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, straight,
                                                                    damage_newest):
  workdir = str(tmp_path / 'run')
  shutil.copytree(straight[0], workdir)
  _, at_two, _ = checkpoint.restore_state(workdir, 2)
  damage_newest(workdir, 4)
  restorer = checkpoint.Checkpointer(os.path.join(workdir, 'checkpoints'), max_to_keep=3)
  try:
    restored = restorer.restore_or(jax.tree.map(np.zeros_like, at_two))
  finally:
    restorer.close()
  assert_trees_equal(at_two, restored)
  assert checkpoint_steps(workdir) == [2]  # 4 is out of the way of its new save ...
  assert os.path.isdir(os.path.join(workdir, checkpoint.DAMAGED_FOLDER, '4'))  # ... and kept


def test_latest_saved_step_reads_complete_steps_and_creates_nothing(tmp_path, straight):
  workdir = str(tmp_path / 'run')
  shutil.copytree(straight[0], workdir)
  os.makedirs(os.path.join(workdir, 'checkpoints', '6.orbax-checkpoint-tmp-1'))  # a save cut short
  assert checkpoint.latest_saved_step(os.path.join(workdir, 'checkpoints')) == 4
  missing = str(tmp_path / 'none')
  assert checkpoint.latest_saved_step(missing) is None
  assert not os.path.exists(missing)


def test_when_no_checkpoint_restores_training_refuses_to_start_anew(tmp_path, straight):
  workdir = str(tmp_path / 'run')
  shutil.copytree(straight[0], workdir)
  for step in (2, 4):
    damage(workdir, step)
  with pytest.raises(RuntimeError, match=r'none of the checkpoints \[4, 2\]'):
    train.train_and_evaluate(fault_config(num_steps=6), workdir)
  assert checkpoint_steps(workdir) == [2, 4]  # nothing moved or deleted


def test_a_workdir_of_another_config_is_refused_naming_the_fields(tmp_path, straight):
  workdir = str(tmp_path / 'run')
  shutil.copytree(straight[0], workdir)
  changed = fault_config(num_steps=5, log_every=3)  # length and cadence may change
  changed.loss.gp_weight = 5.0
  changed.train.n_critic = 3
  with pytest.raises(ValueError) as refused:
    train.train_and_evaluate(changed, workdir)
  message = str(refused.value)
  assert 'loss.gp_weight: 10.0 -> 5.0' in message and 'train.n_critic: 2 -> 3' in message
  assert 'num_steps' not in message and 'log_every' not in message
  assert '--allow_config_change' in message

  changed.train.num_steps = 4  # the checkpoint's step: restored, nothing to train
  state = train.train_and_evaluate(changed, workdir, allow_config_change=True)
  assert int(state.step) == 4
  with open(os.path.join(workdir, 'config.json')) as f:
    assert json.load(f)['loss']['gp_weight'] == 5.0
  kept = [name for name in os.listdir(workdir) if name.startswith('config.replaced-')]
  with open(os.path.join(workdir, kept[0])) as f:
    assert json.load(f)['loss']['gp_weight'] == 10.0


def test_too_little_disk_space_stops_before_writing_and_keeps_earlier_checkpoints(
    tmp_path, monkeypatch):
  saver = checkpoint.Checkpointer(str(tmp_path), max_to_keep=3)
  try:
    saver.save(1, {'x': np.arange(3.0)})
    saver.close()
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(checkpoint.shutil, 'disk_usage', lambda path: usage._replace(free=10))
    saver = checkpoint.Checkpointer(str(tmp_path), max_to_keep=3)
    with pytest.raises(checkpoint.DiskFullError, match='checkpoint 2 .* 0.0 MiB free.* intact'):
      saver.save(2, {'x': np.arange(3.0)})
    np.testing.assert_array_equal(saver.restore_or({'x': np.zeros(3)})['x'], np.arange(3.0))
  finally:
    saver.close()
  assert sorted(os.listdir(tmp_path)) == ['1']


def test_a_write_that_fills_the_disk_is_reported_as_such(tmp_path, monkeypatch):
  def full(*args, **kwargs):
    raise OSError(errno.ENOSPC, 'No space left on device')

  monkeypatch.setattr(ocp.CheckpointManager, 'save', full)
  saver = checkpoint.Checkpointer(str(tmp_path), max_to_keep=3)
  try:
    with pytest.raises(checkpoint.DiskFullError, match='disk full while writing checkpoint 7'):
      saver.save(7, {'x': np.zeros(3)})
  finally:
    saver.close()


def run_files(workdir):
  """Every file under `workdir` with its size and modification time."""
  return {os.path.join(folder, name): (os.stat(os.path.join(folder, name)).st_size,
                                       os.stat(os.path.join(folder, name)).st_mtime_ns)
          for folder, _, names in os.walk(workdir) for name in names}


@pytest.mark.parametrize('damage_newest', [damage, remove_item_folder])
def test_reading_a_run_skips_a_damaged_newest_checkpoint_and_moves_nothing(
    tmp_path, straight, damage_newest, caplog):
  """As `jaxgan.generate` and `jaxgan.evaluate` read a run: the newest intact checkpoint, the
  damaged one named in a warning and left in place."""
  workdir = str(tmp_path / 'run')
  shutil.copytree(straight[0], workdir)
  _, at_two, _ = checkpoint.restore_state(workdir, 2)
  damage_newest(workdir, 4)
  before = run_files(workdir)
  _, state, step = checkpoint.restore_state(workdir)
  assert step == 2
  assert_trees_equal(at_two, state)
  assert 'skipped 4 (' in caplog.text
  stats = generation.generate_from_run(workdir, str(tmp_path / 'generated.h5'), num=3)
  assert stats['step'] == 2
  assert run_files(workdir) == before
  assert not os.path.exists(os.path.join(workdir, checkpoint.DAMAGED_FOLDER))


def test_reading_a_damaged_chosen_checkpoint_names_the_newest_intact_one(tmp_path, straight):
  workdir = str(tmp_path / 'run')
  shutil.copytree(straight[0], workdir)
  damage(workdir, 4)
  with pytest.raises(ValueError, match=r'checkpoint 4 does not restore \(.*\); the newest that '
                                       r'restores is 2: give --step=2') as refused:
    checkpoint.load_generator(workdir, step=4)
  assert '\n' not in str(refused.value)
  damage(workdir, 2)
  with pytest.raises(ValueError, match=r'none of the checkpoints \[4, 2\] restores'):
    checkpoint.restore_state(workdir)
  assert checkpoint_steps(workdir) == [2, 4]


def test_a_checkpoint_saved_before_the_ema_statistics_resumes_with_the_live_ones(tmp_path, caplog):
  """A run saved without `generator_ema_batch_stats` (`state.LATER_FIELDS`) is read and resumed
  with the live statistics standing in for them, and then keeps them as new runs do."""
  workdir = str(tmp_path)
  config = fault_config(num_steps=2, ema_decay=0.5)
  state = train.train_and_evaluate(config, workdir)
  older = {name: value for name, value in vars(state).items()
           if name != 'generator_ema_batch_stats'}
  shutil.rmtree(os.path.join(workdir, 'checkpoints'))
  saver = checkpoint.Checkpointer(checkpoint.directory_of(workdir))
  saver.save(2, older)
  saver.close()
  _, restored, _ = checkpoint.restore_state(workdir)
  assert_trees_equal(restored.generator_ema_batch_stats, state.generator_batch_stats)
  assert "predates the state fields ['generator_ema_batch_stats']" in caplog.text
  config.train.num_steps = 3
  resumed = train.train_and_evaluate(config, workdir)
  assert int(resumed.step) == 3
  assert jax.tree.structure(resumed.generator_ema_batch_stats) == jax.tree.structure(
      state.generator_batch_stats)
