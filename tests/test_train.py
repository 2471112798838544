"""End-to-end training: outputs, device-count independence, reproducibility, resume, predictor."""

import json
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxgan import assembly
from jaxgan import camera as camera_lib
from jaxgan import checkpoint
from jaxgan import logs
from jaxgan import predictor_training
from jaxgan import train
from jaxgan.data import dataset as data_lib
from jaxgan.data import hdf5
from jaxgan.data import toy_iact
from tests.helpers import tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fail(*args, **kwargs):
  raise AssertionError('the predictor was trained again')


@pytest.fixture(scope='module')
def first_run(tmp_path_factory):
  """A one-step run in a fresh workdir, where it trains its predictor first: (workdir, final
  state). Its outputs are checked below, and its predictor serves the whole module (its reuse is
  itself under test)."""
  workdir = str(tmp_path_factory.mktemp('first_run'))
  return workdir, train.train_and_evaluate(tiny_config(num_steps=1), workdir)


@pytest.fixture(scope='module')
def predictor_dir(first_run):
  return os.path.join(first_run[0], 'predictor')


def config_with_predictor(predictor_dir, **train_overrides):
  config = tiny_config(**train_overrides)
  config.predictor.checkpoint = predictor_dir
  return config


@pytest.fixture(scope='module')
def two_steps(predictor_dir, tmp_path_factory):
  """The final state of a 2-step run on 1 device with the module's predictor."""
  workdir = str(tmp_path_factory.mktemp('two_steps'))
  return train.train_and_evaluate(config_with_predictor(predictor_dir), workdir)


@pytest.fixture(scope='module')
def one_step_reusing(predictor_dir, tmp_path_factory):
  """The workdir of a 1-step run given the module's predictor by path, run with predictor
  training replaced by a failure."""
  workdir = str(tmp_path_factory.mktemp('one_step_reusing'))
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(predictor_training, 'train_predictor', fail)
    train.train_and_evaluate(config_with_predictor(predictor_dir, num_steps=1), workdir)
  return workdir


def assert_trees_equal(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_one_step_writes_every_output(first_run):
  workdir, state = first_run
  assert int(state.step) == 1
  for name in ('config.json', 'dataset.json', 'metrics.jsonl', 'samples/step_0000001.png',
               'samples/reference.png', 'checkpoints/1'):
    assert os.path.exists(os.path.join(workdir, name)), name
  assert os.listdir(os.path.join(workdir, 'tensorboard'))
  rows = logs.read_metrics(workdir)
  reference = [row for row in rows if 'validation_size_energy_correlation' in row]
  assert reference[0]['step'] == 0
  assert reference[0]['validation_size_energy_correlation'] > 0.3  # the data's own response
  assert any('generated_size_energy_correlation' in row for row in rows)
  losses = [row for row in rows if 'critic_loss' in row]
  assert losses[-1]['step'] == 1
  assert all(np.isfinite(v) for v in losses[-1].values())
  assert json.load(open(os.path.join(workdir, 'config.json')))['train']['num_steps'] == 1


def test_predictor_is_trained_when_missing_and_reused_when_present(
    tmp_path, monkeypatch, first_run, one_step_reusing):
  saved = os.path.join(first_run[0], 'predictor')  # trained by the first run, into its workdir
  assert os.path.exists(os.path.join(saved, predictor_training.METRICS_FILE))
  monkeypatch.setattr(predictor_training, 'train_predictor', fail)
  workdir = str(tmp_path / 'same')
  shutil.copytree(first_run[0], workdir)
  train.train_and_evaluate(tiny_config(num_steps=2), workdir)  # same workdir: reuse
  # Explicit path: reuse (`one_step_reusing` ran with the same failing stand-in).
  assert not os.path.exists(os.path.join(one_step_reusing, 'predictor'))


def test_same_seed_gives_bitwise_identical_runs(tmp_path, predictor_dir, two_steps):
  config = config_with_predictor(predictor_dir)
  second = train.train_and_evaluate(config, str(tmp_path / 'b'))
  assert_trees_equal(two_steps, second)
  other = config_with_predictor(predictor_dir)
  other.seed = 1
  third = train.train_and_evaluate(other, str(tmp_path / 'c'))
  assert not np.array_equal(jax.tree.leaves(two_steps.critic_params)[0],
                            jax.tree.leaves(third.critic_params)[0])


def test_resume_equals_uninterrupted(tmp_path, predictor_dir, two_steps, one_step_reusing):
  """The 2-step run against the 1-step run resumed from its checkpoint for a second step."""
  resumed_dir = str(tmp_path / 'resumed')
  shutil.copytree(one_step_reusing, resumed_dir)
  resumed = train.train_and_evaluate(config_with_predictor(predictor_dir, num_steps=2),
                                     resumed_dir)
  assert int(resumed.step) == 2
  assert_trees_equal(two_steps, resumed)


def test_four_devices_match_one_device(tmp_path, predictor_dir, two_steps):
  assert jax.local_device_count() >= 4, 'conftest.py sets 4 fake CPU devices'
  four = train.train_and_evaluate(config_with_predictor(predictor_dir, num_devices=4),
                                  str(tmp_path / 'four'))
  for x, y in zip(jax.tree.leaves(two_steps), jax.tree.leaves(four), strict=True):
    np.testing.assert_allclose(np.asarray(x, np.float64), np.asarray(y, np.float64),
                               rtol=2e-4, atol=2e-5)


@pytest.mark.fast
def test_batch_that_does_not_split_over_devices_is_refused(tmp_path):
  config = tiny_config(num_devices=3)
  with pytest.raises(ValueError, match='batch_size=8.*3 devices'):
    train.train_and_evaluate(config, str(tmp_path))


@pytest.mark.parametrize('override,message', [
    ('--config.train.num_stpes=3', 'num_stpes'),
    ('--config.train.num_steps=many', 'num_steps'),
    ('--config.modle.latent_dim=3', 'modle'),
])
def test_bad_config_override_stops_with_a_message_naming_it(tmp_path, override, message):
  result = subprocess.run(
      [sys.executable, '-m', 'jaxgan.main', '--config=experiments/ctgan.py',
       f'--workdir={tmp_path}', override],
      cwd=REPO, capture_output=True, text=True, timeout=120)
  assert result.returncode != 0
  assert message in result.stderr
  assert not os.path.exists(tmp_path / 'config.json')


def test_trains_from_hdf5_split_files(tmp_path, predictor_dir):
  """The run reads the files, and their camera (not the toy telescope's) cleans the sample
  grid's and the evaluation's images."""
  config = config_with_predictor(predictor_dir, num_steps=1)
  images, labels = toy_iact.simulate(jax.random.key(3), 48, config.data.toy_iact)
  camera = camera_lib.Camera(0.12, 8.0, 4.0)
  for name, rows in (('train', slice(0, 32)), ('validation', slice(32, 48))):
    hdf5.write(tmp_path / f'{name}.h5', images[rows], {k: v[rows] for k, v in labels.items()},
               camera=camera, provenance={'test': name}, source='toy_iact')
  config.data.name = 'hdf5'
  config.data.path = str(tmp_path / 'train.h5')
  config.data.validation_path = str(tmp_path / 'validation.h5')
  workdir = str(tmp_path / 'run')
  state = train.train_and_evaluate(config, workdir)
  assert int(state.step) == 1
  facts = json.load(open(tmp_path / 'run' / 'dataset.json'))
  assert (facts['num_train'], facts['num_validation']) == (32, 16)
  assert checkpoint.load_generator(workdir).camera == camera  # what the evaluation cleans with
  data = assembly.load_data(config.data, workdir)
  sampler = train.make_sampler(config, data_lib.get_dataset('hdf5'),
                               assembly.build_networks(config)[0], data)
  assert sampler.camera == camera
