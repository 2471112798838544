"""Tests of the label predictor and of training, saving and loading it, on tiny fabricated data."""

import functools
import json
import os
import re

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from jaxgan import configs
from jaxgan import labels as labels_lib
from jaxgan import losses
from jaxgan import predictor_training
from jaxgan import train
from jaxgan.data.split import Split
from jaxgan.models import predictor as predictor_lib
from tests import helpers

TINY = dict(stage_widths=(4, 8), blocks_per_stage=(1, 1), se_ratio=2)


def toy_data(num: int, seed: int = 0) -> Split:
  """Images whose labels are simple functions of them, so a predictor can learn them.

  particletype: whether the left half is brighter; energy: log10 of the total brightness;
  direction: the brightness centroid (x, y) in [-1, 1].
  """
  rng = np.random.default_rng(seed)
  images = rng.uniform(size=(num, 43, 43, 1)).astype(np.float32)
  images[:, :, :21] *= rng.choice([0.5, 2.0], size=(num, 1, 1, 1))
  images *= 10.0 ** rng.uniform(-0.5, 0.5, size=(num, 1, 1, 1))
  total = images.sum(axis=(1, 2, 3))
  grid = np.linspace(-1.0, 1.0, 43)
  direction = np.stack([np.einsum('nhw,w->n', images[..., 0], grid),
                        np.einsum('nhw,h->n', images[..., 0], grid)], axis=-1) / total[:, None]
  labels = {
      'particletype': (images[:, :, :21].mean(axis=(1, 2, 3)) >
                       images[:, :, 22:].mean(axis=(1, 2, 3))).astype(np.int32),
      'energy': np.log10(total / images[0].size).astype(np.float32),
      'direction': direction.astype(np.float32),
  }
  return Split(images, labels)


def identity(images):
  return images


def tiny_config(**overrides) -> ml_collections.ConfigDict:
  config = configs.predictor()
  config.update({**TINY, 'num_steps': 8, 'batch_size': 16, 'log_every': 4, **overrides})
  return config


@pytest.mark.parametrize('size', [43, 64])
@pytest.mark.parametrize('train', [True, False])
def test_output_shapes(size, train):
  model = predictor_lib.Predictor(**TINY)
  images = jax.ShapeDtypeStruct((3, size, size, 1), jnp.float32)
  variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False), images)
  outputs, _ = jax.eval_shape(
      lambda v, x: model.apply(v, x, train=train, mutable=['batch_stats']), variables, images)
  assert {k: v.shape for k, v in outputs.items()} == {
      'particletype': (3, 2), 'energy': (3,), 'direction': (3, 2)}
  assert all(v.dtype == jnp.float32 for v in outputs.values())


def test_heads_follow_the_label_spec():
  """One head per label, named after it (the telescope's names by default, as checkpoints
  have them), shaped as the label: logits, (B,) or (B, size) values."""
  spec = (labels_lib.Label('digit', num_classes=10), labels_lib.Label('xy', size=2),
          labels_lib.Label('t'))
  images = jax.ShapeDtypeStruct((3, 43, 43, 1), jnp.float32)
  for label_spec, shapes in [(spec, {'digit': (3, 10), 'xy': (3, 2), 't': (3,)}),
                             (labels_lib.TELESCOPE, {'particletype': (3, 2), 'energy': (3,),
                                                     'direction': (3, 2)})]:
    model = predictor_lib.Predictor(**TINY, label_spec=label_spec)
    variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False), images)
    outputs = jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, images)
    assert {k: v.shape for k, v in outputs.items()} == shapes
    heads = {name for name in variables['params'] if not name.startswith(('Conv', 'Batch',
                                                                          'Bottleneck'))}
    assert heads == {*shapes, *(f'{name}_hidden' for name in shapes)}
    first = next(iter(shapes))  # a categorical label: its output is as wide as its classes
    assert variables['params'][first]['kernel'].shape == (TINY['stage_widths'][-1],
                                                          shapes[first][1])


@pytest.mark.fast
def test_head_widths_are_the_heads_hidden_layers():
  model = predictor_lib.Predictor(**TINY, head_widths=(6, 5))
  images = jax.ShapeDtypeStruct((3, 43, 43, 1), jnp.float32)
  params = jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False), images)['params']
  assert [params[name]['kernel'].shape for name in ('energy_hidden', 'energy_hidden_2', 'energy')
          ] == [(8, 6), (6, 5), (5, 1)]


@pytest.mark.fast
def test_a_predictor_of_one_label_is_scored_on_it_alone():
  data = toy_data(8)
  model = predictor_lib.Predictor(**TINY, label_spec=(labels_lib.Label('energy'),))
  variables = predictor_training.init_variables(model, data.image_shape, 0)
  metrics = predictor_training.evaluate_predictor(model, variables, data, identity, 4)
  assert set(metrics) == {'energy_mae', 'loss', 'loss_energy'}
  predicted = np.asarray(model.apply(variables, data.images, train=False)['energy'])
  assert metrics['energy_mae'] == pytest.approx(np.mean(np.abs(predicted - data.labels['energy'])),
                                                rel=1e-5)
  assert metrics['loss'] == pytest.approx(np.mean((predicted - data.labels['energy']) ** 2),
                                          rel=1e-5)


def test_conv_impls_agree():
  images = toy_data(4).images
  im2col = predictor_lib.Predictor(**TINY, conv_impl='im2col')
  xla = predictor_lib.Predictor(**TINY, conv_impl='xla')
  # Random values everywhere (positive variances), so that every layer shapes the outputs.
  rng = np.random.default_rng(1)
  shapes = jax.eval_shape(predictor_training.init_variables, im2col, images.shape[1:], 0)
  variables = jax.tree.map(lambda s: rng.uniform(0.5, 1.5, s.shape).astype(np.float32), shapes)
  for train in (False, True):
    apply = lambda model: jax.jit(functools.partial(model.apply, train=train,
                                                    mutable=['batch_stats']))(variables, images)[0]
    a, b = apply(im2col), apply(xla)
    for name in a:
      np.testing.assert_allclose(a[name], b[name], atol=1e-4, rtol=1e-4)


@pytest.mark.fast
def test_from_config_builds_the_configured_network():
  model = predictor_lib.predictor_from_config(tiny_config(conv_impl='xla'))
  assert (model.stage_widths, model.blocks_per_stage, model.se_ratio, model.conv_impl) == (
      (4, 8), (1, 1), 2, 'xla')


def test_training_reduces_the_loss():
  data = toy_data(64)
  config = tiny_config(num_steps=60, batch_size=32, learning_rate=1e-2)
  model = predictor_lib.predictor_from_config(config)
  initial = predictor_training.init_variables(model, data.image_shape, config.seed)
  before = predictor_training.evaluate_predictor(model, initial, data, identity, 32)
  trained = predictor_training.train_predictor(config, model, data, identity)
  after = predictor_training.evaluate_predictor(model, trained, data, identity, 32)
  assert after['loss'] < 0.5 * before['loss']
  assert after['loss_energy'] < 0.25 * before['loss_energy']
  assert after['particletype_accuracy'] >= 0.75


def test_zero_steps_keep_the_fresh_initialisation(tmp_path):
  """num_steps=0 (a predictor trained only alongside the GAN): saved as initialised."""
  data = toy_data(32)
  config = tiny_config(num_steps=0)
  saved = predictor_training.train_or_load_predictor(config, *halves(data), identity,
                                                     str(tmp_path))
  model = predictor_lib.predictor_from_config(config)
  initial = predictor_training.init_variables(model, data.image_shape, config.seed)
  for a, b in zip(jax.tree.leaves(saved), jax.tree.leaves(initial), strict=True):
    np.testing.assert_array_equal(a, b)


@pytest.mark.fast
def test_shuffling_is_deterministic_and_covers_each_epoch():
  data = Split(np.arange(10.0)[:, None], {k: np.arange(10) for k in ('particletype', 'energy',
                                                                      'direction')})
  draw = lambda seed: [b['labels']['energy'] for _, b in zip(
      range(4), predictor_training.shuffled_batches(data, identity, 5, seed))]
  first, again, other = draw(0), draw(0), draw(1)
  np.testing.assert_array_equal(first, again)
  assert not np.array_equal(first, other)
  assert sorted(np.concatenate(first[:2])) == list(range(10))
  assert not np.array_equal(first[:2], first[2:])


def test_train_then_load(tmp_path, monkeypatch):
  data = toy_data(64)
  config = tiny_config()
  workdir = str(tmp_path / 'run')
  trained = predictor_training.train_or_load_predictor(config, *halves(data), identity, workdir)
  path = os.path.join(workdir, 'predictor')
  assert sorted(os.listdir(path)) == ['metrics.json', 'predictor_config.json', 'variables']
  with open(os.path.join(path, 'metrics.json')) as f:
    assert set(json.load(f)) == {'particletype_accuracy', 'energy_mae', 'direction_mae', 'loss',
                                 'loss_particletype', 'loss_energy', 'loss_direction'}

  def fail(*args, **kwargs):
    raise AssertionError('a saved predictor must be loaded, not retrained')

  monkeypatch.setattr(predictor_training, 'train_predictor', fail)
  loaded = predictor_training.train_or_load_predictor(config, *halves(data), identity, workdir)
  assert jax.tree.structure(loaded) == jax.tree.structure(trained)
  for a, b in zip(jax.tree.leaves(trained), jax.tree.leaves(loaded)):
    assert a.dtype == b.dtype and np.array_equal(np.asarray(a), np.asarray(b))

  saved = json.load(open(os.path.join(path, 'predictor_config.json')))
  assert (saved['name'], saved['head_widths']) == ('resnet', [])
  for field in ('name', 'head_widths'):  # saved before the fields existed: their defaults
    del saved[field]
  json.dump(saved, open(os.path.join(path, 'predictor_config.json'), 'w'))
  predictor_training.train_or_load_predictor(config, *halves(data), identity, workdir)

  wider = tiny_config(stage_widths=(4, 16))  # the saved predictor does not fit this config
  with pytest.raises(ValueError, match=re.escape(path)):
    predictor_training.train_or_load_predictor(wider, *halves(data), identity, workdir)


def test_explicit_checkpoint_path_is_trained_and_saved_there(tmp_path, monkeypatch):
  untrained = lambda config, model, train, normalise: predictor_training.init_variables(
      model, train.image_shape, config.seed)
  monkeypatch.setattr(predictor_training, 'train_predictor', untrained)  # only paths matter here
  data = toy_data(32)
  checkpoint = tmp_path / 'shared' / 'my_predictor'
  config = tiny_config(checkpoint=str(checkpoint))
  predictor_training.train_or_load_predictor(config, data, data, identity, str(tmp_path / 'run'))
  assert (checkpoint / 'variables').is_dir()
  assert not (tmp_path / 'run' / 'predictor').exists()


@pytest.mark.parametrize('corrupt', ['empty', 'garbage'])
def test_unreadable_checkpoint_names_its_path(tmp_path, corrupt):
  path = tmp_path / 'predictor'
  path.mkdir()
  if corrupt == 'garbage':
    (path / 'variables').mkdir()
    (path / 'variables' / 'checkpoint').write_text('not a checkpoint')
  data = toy_data(16)
  with pytest.raises(ValueError, match=re.escape(str(path))):
    predictor_training.train_or_load_predictor(tiny_config(), data, data, identity, str(tmp_path))


def halves(data: Split) -> tuple[Split, Split]:
  """(train, validation): the two halves."""
  half = len(data) // 2
  return data.take(np.arange(half)), data.take(np.arange(half, len(data)))


@pytest.mark.fast
def test_the_regression_loss_can_be_ctlearns_mean_absolute_error():
  predictions = {'energy': jnp.array([0.5, -1.0]), 'particletype': jnp.zeros((2, 2))}
  labels = {'energy': jnp.array([1.0, 1.0]), 'particletype': jnp.array([0, 1])}
  spec = (labels_lib.Label('particletype', num_classes=2), labels_lib.Label('energy'))
  mae = losses.label_losses(predictions, labels, spec, regression='mae')
  mse = losses.label_losses(predictions, labels, spec)
  np.testing.assert_allclose(mae['energy'], (0.5 + 2.0) / 2)
  np.testing.assert_allclose(mse['energy'], (0.25 + 4.0) / 2)
  np.testing.assert_allclose(mae['particletype'], np.log(2.0), rtol=1e-6)


@pytest.mark.fast
def test_a_constant_schedule_keeps_the_learning_rate_and_the_cosine_ends_at_zero():
  constant = optax.adam(predictor_training.SCHEDULES['constant'](1e-4, 10))
  cosine = predictor_training.SCHEDULES['cosine'](1e-4, 10)
  params = {'w': jnp.ones(3)}
  state = constant.init(params)
  for _ in range(12):  # Adam's first steps move each weight by the learning rate
    updates, state = constant.update({'w': jnp.ones(3)}, state, params)
  np.testing.assert_allclose(updates['w'], -1e-4, rtol=1e-4)
  assert float(cosine(0)) == pytest.approx(1e-4) and float(cosine(10)) == 0


@pytest.mark.fast
@pytest.mark.parametrize('field', ['schedule', 'regression_loss'])
def test_an_unknown_predictor_schedule_or_loss_is_refused(field):
  config = helpers.tiny_config()
  config.predictor[field] = 'sometimes'
  with pytest.raises(ValueError, match=f"predictor.{field}='sometimes'; choose one of"):
    train.check_config(config, 1)
