"""A bad config value, data file or model is refused at the start with one line naming it, and
leaves the workdir open to the corrected command.

Each case is made for real: values outside their range, HDF5 files of the wrong shape, channel
count, pixel size or size, a model that does not exist; the check is that training fails before
its first step with a message naming the field or file, and writes no `config.json`.
"""

import json
import os
import re
import subprocess
import sys

import h5py
import numpy as np
import pytest

from jaxgan import camera as camera_lib
from jaxgan import configs
from jaxgan import train
from jaxgan.data import hdf5
from jaxgan.evaluation import telescope
from tests.helpers import tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.fast
@pytest.mark.parametrize('value,interval,inside', [
    (0, '[0, 1)', True), (1, '[0, 1)', False), (0, '(0, inf)', False), (1e-9, '(0, inf)', True),
    (-1, '[0, inf)', False), (1, '[1, 1]', True), (0.5, '(0.5, 2]', False), (2, '(0.5, 2]', True)])
def test_an_interval_holds_what_its_brackets_say(value, interval, inside):
  config = configs.telescope()
  config.loss.gp_weight = value
  bounds = [('loss.gp_weight', interval)]
  if inside:
    configs.check_bounds(config, bounds)
  else:
    with pytest.raises(ValueError,
                       match=re.escape(f'loss.gp_weight={float(value)} must lie in {interval}')):
      configs.check_bounds(config, bounds)


@pytest.mark.fast
def test_every_element_of_a_tuple_is_checked():
  config = configs.telescope()
  config.model.critic_features = (4, 0, 8, 8)
  with pytest.raises(ValueError, match=r'model.critic_features=\(4, 0, 8, 8\)'):
    configs.check_bounds(config, train.BOUNDS)


@pytest.mark.fast
@pytest.mark.parametrize('field,value', [
    ('loss.gp_weight', -10.0), ('optimizer.generator_learning_rate', -2e-4),
    ('optimizer.b1', 1.5), ('model.critic_dropout', 1.5), ('model.latent_dim', -4),
    ('train.num_devices', -1), ('predictor.num_steps', -3), ('data.num_examples', 0)])
def test_a_value_out_of_range_is_refused_before_anything_is_written(tmp_path, field, value):
  config = tiny_config()
  section, name = field.split('.')
  config[section][name] = value
  with pytest.raises(ValueError, match=rf'^{field}={value} must lie in'):
    train.train_and_evaluate(config, str(tmp_path))
  assert os.listdir(tmp_path) == ['.lock']


def write_events(path, shape=(43, 43, 1), num=40, pixel_size=0.1, nan=False) -> str:
  """An HDF5 split of `num` random events with images of `shape`."""
  rng = np.random.default_rng(0)
  images = rng.exponential(2.0, (num, *shape)).astype(np.float32)
  labels = {'particletype': rng.integers(0, 2, num).astype(np.int32),
            'energy': rng.uniform(-0.5, 1.0, num).astype(np.float32),
            'direction': rng.normal(0, 0.3, (num, 2)).astype(np.float32)}
  hdf5.write(path, images, labels, camera=camera_lib.Camera(pixel_size, 6.0, 3.0),
             provenance={'test': 'bad inputs'}, source='test')
  if nan:
    with h5py.File(path, 'r+') as f:
      f['images'][3, 10, 10, 0] = np.nan
  return str(path)


def hdf5_config(train_path: str, validation_path: str = '', **model):
  config = tiny_config()
  config.data.update(name='hdf5', path=train_path, validation_path=validation_path)
  config.model.update(model)
  return config


@pytest.mark.parametrize('shape,drawn', [((44, 44, 1), '43x43x1'), ((43, 43, 3), '43x43x1')])
def test_images_the_generator_cannot_draw_are_refused_naming_the_file(tmp_path, shape, drawn):
  path = write_events(tmp_path / 'events.h5', shape)
  with pytest.raises(ValueError) as refused:
    train.train_and_evaluate(hdf5_config(path), str(tmp_path / 'run'))
  assert str(refused.value) == (
      f"data.path={path!r} holds {'x'.join(map(str, shape))} images, but the generator "
      f"(model.name='ctgan', model.image_size, model.generator_features) draws {drawn}: make "
      'them agree')


@pytest.mark.parametrize('validation,message', [
    ({'shape': (44, 44, 1)}, r'has image_shape \(44, 44, 1\), but the training file'),
    ({'pixel_size': 0.25}, 'has pixel_size_deg 0.25, but the training file')])
def test_a_validation_file_of_another_camera_is_refused(tmp_path, validation, message):
  train_path = write_events(tmp_path / 'train.h5')
  validation_path = write_events(tmp_path / 'validation.h5', **validation)
  with pytest.raises(ValueError, match=message):
    train.train_and_evaluate(hdf5_config(train_path, validation_path), str(tmp_path / 'run'))


def test_a_camera_pixel_size_other_than_the_models_is_refused(tmp_path):
  path = write_events(tmp_path / 'events.h5', pixel_size=0.25)
  config = hdf5_config(path, name='ctgan_frame', generator_features=(8, 4, 4),
                       generator_base_shape=(3, 6, 8), generator_output_features=4,
                       conditioning='predictor+cgan', critic_view='aligned')
  with pytest.raises(ValueError, match=r'model.camera_pixel_size=0.1 but the camera of .* has '
                                       r'0.25 deg pixels: set model.camera_pixel_size=0.25'):
    train.train_and_evaluate(config, str(tmp_path / 'run'))


@pytest.mark.parametrize('num_examples,field', [(5, 'train.batch_size=8'),
                                                (20, 'predictor.batch_size=32')])
def test_a_training_split_smaller_than_a_batch_is_refused(tmp_path, num_examples, field):
  config = tiny_config()
  config.data.num_examples = num_examples
  with pytest.raises(ValueError, match=rf'fewer than one batch \({field}\)'):
    train.train_and_evaluate(config, str(tmp_path))


def test_the_corrected_command_runs_in_the_workdir_of_a_refused_start(tmp_path):
  workdir = str(tmp_path / 'run')
  bad_data = write_events(tmp_path / 'nan.h5', nan=True)
  with pytest.raises(ValueError, match='image 3 has NaN or infinite pixels'):
    train.train_and_evaluate(hdf5_config(bad_data), workdir)
  unknown_model = tiny_config()
  unknown_model.model.name = 'ctgann'
  with pytest.raises(ValueError, match="model.name='ctgann' is unknown"):
    train.train_and_evaluate(unknown_model, workdir)
  assert not os.path.exists(os.path.join(workdir, 'config.json'))
  config = tiny_config(num_steps=1)
  config.predictor.num_steps = 1
  assert int(train.train_and_evaluate(config, workdir).step) == 1
  assert json.load(open(os.path.join(workdir, 'config.json')))['model']['name'] == 'ctgan'


def test_main_prints_one_line_for_a_users_error(tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'jaxgan.main', '--config=experiments/ctgan.py',
       f'--workdir={tmp_path}', '--config.optimizer.b1=1.5'],
      cwd=REPO, capture_output=True, text=True, timeout=120)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      'jaxgan.main: optimizer.b1=1.5 must lie in [0, 1)')
  assert 'Traceback' not in result.stderr


def test_a_missing_config_file_is_named(tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'jaxgan.main', '--config=experiments/nothere.py',
       f'--workdir={tmp_path}'], cwd=REPO, capture_output=True, text=True, timeout=120)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      'jaxgan.main: --config=experiments/nothere.py: no such file')


@pytest.mark.fast
@pytest.mark.parametrize('request_,message', [({'judge_steps': -3}, 'judge_steps=-3'),
                                              ({'batch_size': 0}, 'batch_size=0')])
def test_evaluate_refuses_a_count_below_one_before_reading_the_run(tmp_path, request_, message):
  with pytest.raises(ValueError, match=f'^{message} must lie in'):
    telescope.evaluate_run(str(tmp_path), **request_)
  assert not os.listdir(tmp_path)


@pytest.mark.fast
def test_a_truncated_config_json_is_named_when_training_resumes(tmp_path):
  with open(tmp_path / 'config.json', 'w') as f:
    f.write(tiny_config().to_json_best_effort()[:100])
  with pytest.raises(ValueError, match=re.escape(f'{tmp_path}/config.json: not valid JSON')):
    train.train_and_evaluate(tiny_config(), str(tmp_path))
