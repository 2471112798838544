"""CTLearn's ThinResNet against its definition (ctlearn 0.6.0, `default_models/`), and the judges
built from it: one network per label, as the source evaluated."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import assembly
from jaxgan import configs
from jaxgan import labels as labels_lib
from jaxgan import predictor_training
from jaxgan.data import pipeline
from jaxgan.evaluation import judge as judge_lib
from jaxgan.models import predictor as predictor_lib
from jaxgan.models import thin_resnet
from tests import helpers
from tests.test_predictor import halves, identity, toy_data

TINY = dict(stage_widths=(8, 16), blocks_per_stage=(1, 2), se_ratio=4, head_widths=(8, 4))
IMAGES = jax.ShapeDtypeStruct((2, 43, 43, 1), jnp.float32)
SCORE_OF = {'particletype': ('judge_accuracy', 'particletype_accuracy'),  # judge score, metric
            'energy': ('judge_energy_mae', 'energy_mae'),
            'direction': ('judge_direction_mae', 'direction_mae')}


def keras_conv(kernel: int, channels_in: int, filters: int) -> int:
  """Parameters of a Keras Conv2D with its default bias."""
  return kernel * kernel * channels_in * filters + filters


def keras_dense(units_in: int, units: int) -> int:
  """Parameters of a Keras Dense with its default bias."""
  return units_in * units + units


def ctlearn_parameters(channels: int, filters, blocks, ratio: int, fc_head, outputs) -> int:
  """Parameters of CTLearn's ThinResNet, layer by layer as `resnet_engine.py`, `attention.py`
  and `head.py` build them."""
  total = 0
  for stage_filters, stage_blocks in zip(filters, blocks):
    expanded = 4 * stage_filters
    for block in range(stage_blocks):
      if block == 0:
        total += keras_conv(1, channels, expanded)  # <block>_0_conv, the shortcut
      total += keras_conv(1, channels, stage_filters)  # _1_conv
      total += keras_conv(3, stage_filters, stage_filters)  # _2_conv
      total += keras_conv(1, stage_filters, expanded)  # _3_conv
      total += keras_dense(expanded, expanded // ratio)  # _se_cse_1_dense
      total += keras_dense(expanded // ratio, expanded)  # _se_cse_2_dense
      total += keras_conv(1, expanded, 1)  # _se_sse_spatial_conv
      channels = expanded
  for units in outputs:  # fully_connect: fc_head, then the output layer
    widths = (channels, *fc_head, units)
    total += sum(keras_dense(a, b) for a, b in zip(widths, widths[1:]))
  return total


def count(variables) -> int:
  return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(variables))


def init_shapes(model, images=IMAGES):
  return jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False), images)


def initialised(model, seed: int = 0):
  """Variables of `model` with every parameter random (biases too), for 43x43 images."""
  shapes = jax.eval_shape(predictor_training.init_variables, model, (43, 43, 1), 0)
  rng = np.random.default_rng(seed)
  return jax.tree.map(lambda s: rng.normal(0.0, 0.3, s.shape).astype(np.float32), shapes)


def predictor_config(fields):
  """`configs.predictor()` with `fields` set."""
  config = configs.predictor()
  config.update(fields)
  return config


def thin_config(**overrides):
  """A predictor config of a tiny thin_resnet."""
  return predictor_config({**configs.predictor_network('thin_resnet'), **TINY, 'num_steps': 4,
                           'batch_size': 16, **overrides})


@pytest.mark.fast
def test_parameters_are_ctlearns_counted_by_hand():
  """The source's configuration (predictor-gamma.yml:37-71) on 43x43x1 images: 7,895,744."""
  model = predictor_lib.predictor_from_config(predictor_config(configs.THIN_RESNET))
  expected = ctlearn_parameters(1, (48, 96, 128, 256), (2, 3, 3, 3), 16, (512, 256), (2, 1, 2))
  assert count(init_shapes(model)) == expected == 7_895_744
  tiny = thin_resnet.ThinResNet(**TINY)
  assert count(init_shapes(tiny)) == ctlearn_parameters(1, (2, 4), (1, 2), 4, (8, 4), (2, 1, 2))


@pytest.mark.fast
def test_stages_halve_the_image_and_widen_to_ctlearns_widths():
  model = predictor_lib.predictor_from_config(predictor_config(configs.THIN_RESNET))
  variables = init_shapes(model)
  is_block = lambda layer, method: (isinstance(layer, thin_resnet.ThinResNetBlock)
                                    and method == '__call__')
  outputs, state = jax.eval_shape(
      lambda v, x: model.apply(v, x, train=True, mutable=['intermediates'],
                               capture_intermediates=is_block), variables, IMAGES)
  blocks = state['intermediates']
  shapes = [blocks[f'ThinResNetBlock_{i}']['__call__'][0].shape for i in range(11)]
  sides = [43] * 2 + [22] * 3 + [11] * 3 + [6] * 3  # 1x1 stride-2 convolutions: ceil(side / 2)
  widths = [192] * 2 + [384] * 3 + [512] * 3 + [1024] * 3
  assert shapes == [(2, side, side, width) for side, width in zip(sides, widths)]
  assert {k: v.shape for k, v in outputs.items()} == {
      'particletype': (2, 2), 'energy': (2,), 'direction': (2, 2)}
  params = variables['params']
  assert set(variables) == {'params'}  # no BatchNorm: no statistics
  assert 'Conv_0' not in params and not any(name.startswith('Batch') for name in params)
  assert [params[f'energy_hidden{suffix}']['kernel'].shape for suffix in ('', '_2')] == [
      (1024, 512), (512, 256)]


def numpy_conv(x, kernel, bias, stride=1):
  """Keras's Conv2D of an odd kernel: 'same' (symmetric) padding, or for 1x1 with stride s the
  pixels 0, s, 2s, ... ('valid')."""
  size, pad = kernel.shape[0], kernel.shape[0] // 2
  padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  height, width = x.shape[1:3]
  out = sum(np.einsum('nhwc,cd->nhwd', padded[:, i:i + height, j:j + width], kernel[i, j])
            for i in range(size) for j in range(size)) + bias
  return out[:, ::stride, ::stride]


def numpy_block(x, p, stride):
  """CTLearn's bottleneck_residual_block with squeeze_excite_block, in numpy."""
  relu, sigmoid = lambda v: np.maximum(v, 0), lambda v: 1 / (1 + np.exp(-v))
  conv = lambda v, name, s=1: numpy_conv(v, p[name]['kernel'], p[name]['bias'], s)
  dense = lambda v, q: v @ q['kernel'] + q['bias']
  shortcut = conv(x, 'shortcut', stride)
  y = conv(relu(conv(relu(conv(x, 'reduce', stride)), 'conv')), 'expand')
  se = p['attention']
  gate = sigmoid(dense(relu(dense(y.mean(axis=(1, 2)), se['channel_squeeze'])),
                       se['channel_excite']))
  spatial = sigmoid(numpy_conv(y, se['spatial']['kernel'], se['spatial']['bias']))
  return relu(shortcut + y * gate[:, None, None, :] + y * spatial)


@pytest.mark.fast
@pytest.mark.parametrize('conv_impl', ['im2col', 'xla'])
def test_block_is_ctlearns_strided_bottleneck_with_dual_squeeze_excitation(conv_impl):
  block = thin_resnet.ThinResNetBlock(8, (2, 2), True, 4, conv_impl, jnp.float32)
  x = np.random.default_rng(0).normal(size=(2, 7, 7, 3)).astype(np.float32)
  shapes = jax.eval_shape(block.init, jax.random.key(0), x)
  rng = np.random.default_rng(1)
  variables = jax.tree.map(lambda s: rng.normal(0.0, 0.5, s.shape).astype(np.float32), shapes)
  out = block.apply(variables, x)
  assert out.shape == (2, 4, 4, 8)
  np.testing.assert_allclose(out, numpy_block(x, variables['params'], 2), atol=1e-5, rtol=1e-5)


@pytest.mark.fast
def test_the_spatial_gate_shapes_the_output():
  model = thin_resnet.ThinResNet(**TINY)
  variables = initialised(model)
  images = toy_data(2).images
  before = model.apply(variables, images, train=False)
  params = variables['params']
  spatial = params['ThinResNetBlock_1']['attention']['spatial']
  changed = {**variables, 'params': {**params, 'ThinResNetBlock_1': {
      **params['ThinResNetBlock_1'], 'attention': {
          **params['ThinResNetBlock_1']['attention'],
          'spatial': {**spatial, 'kernel': spatial['kernel'] + 1.0}}}}}
  after = model.apply(changed, images, train=False)
  for name in before:
    assert not np.allclose(before[name], after[name]), name


@pytest.mark.fast
def test_keras_initialisation():
  """Glorot-uniform kernels (|w| <= sqrt(6 / (fan_in + fan_out))) and zero biases."""
  model = thin_resnet.ThinResNet(**TINY)
  variables = predictor_training.init_variables(model, (43, 43, 1), 0)
  assert variables['batch_stats'] == {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(variables['params'])[0]:
    name = jax.tree_util.keystr(path)
    if name.endswith("['bias']"):
      assert not np.any(leaf), name
    else:
      receptive = int(np.prod(leaf.shape[:-2]))
      limit = np.sqrt(6 / (receptive * (leaf.shape[-2] + leaf.shape[-1])))
      assert np.abs(leaf).max() <= limit and np.abs(leaf).max() > 0.5 * limit, name


@pytest.mark.fast
def test_from_config_chooses_the_network_by_name():
  assert isinstance(predictor_lib.predictor_from_config(configs.predictor()),
                    predictor_lib.Predictor)
  model = predictor_lib.predictor_from_config(thin_config())
  assert isinstance(model, thin_resnet.ThinResNet)
  assert (model.stage_widths, model.blocks_per_stage, model.se_ratio, model.head_widths) == (
      (8, 16), (1, 2), 4, (8, 4))
  with pytest.raises(ValueError, match='coord_channels'):
    predictor_lib.predictor_from_config(thin_config(coord_channels=True))
  with pytest.raises(ValueError, match="predictor.name='vgg'"):
    predictor_lib.predictor_from_config(thin_config(name='vgg'))
  assert configs.predictor_network('resnet') == {
      'name': 'resnet', 'stage_widths': (16, 32, 64), 'blocks_per_stage': (1, 1, 1),
      'se_ratio': 4, 'coord_channels': True, 'head_widths': ()}


def test_trains_saves_and_loads(tmp_path):
  data = toy_data(64)
  config = thin_config()
  trained = predictor_training.train_or_load_predictor(config, *halves(data), identity,
                                                       str(tmp_path))
  path = tmp_path / 'predictor'
  saved = json.load(open(path / 'predictor_config.json'))
  assert (saved['name'], saved['head_widths'], saved['coord_channels']) == (
      'thin_resnet', [8, 4], False)
  loaded = predictor_training.load_predictor(str(path), config, (43, 43, 1))
  assert trained['batch_stats'] == {} and loaded['batch_stats'] == {}
  for a, b in zip(jax.tree.leaves(trained), jax.tree.leaves(loaded), strict=True):
    np.testing.assert_array_equal(a, b)


def test_three_judges_are_three_networks_with_the_same_scores(tmp_path):
  """The source's judging: a classifier, an energy and a direction regressor, each its own
  network, saved apart; the scores carry the names of the one three-headed judge's."""
  config = helpers.tiny_config()
  config.predictor.num_steps = 1
  config.eval.judges = 'three'
  data = assembly.RunData(*halves(toy_data(64)), pipeline.Normalisation(1.0, 'linear'))
  judge = judge_lib.load_judge(config, str(tmp_path), data)
  evaluated = toy_data(40, seed=1)
  scores = judge_lib.judge_scores(judge, evaluated.images, evaluated.labels, 'simulated')
  assert set(scores) == {f'{score}_simulated' for score, _ in SCORE_OF.values()}
  assert [tuple(label.name for label in network.module.label_spec)
          for network in judge.networks] == [(label.name,) for label in labels_lib.TELESCOPE]
  for network, label in zip(judge.networks, labels_lib.TELESCOPE):
    assert (tmp_path / 'eval' / 'judge' / label.name / 'variables').is_dir()
    heads = {name for name in network.variables['params'] if not name.startswith(
        ('Conv', 'Batch', 'Bottleneck'))}
    assert heads == {label.name, f'{label.name}_hidden'}
    alone = predictor_training.evaluate_predictor(network.module, network.variables, evaluated,
                                                  identity, judge.batch_size)
    score, metric = SCORE_OF[label.name]
    assert set(alone) == {metric, 'loss', f'loss_{label.name}'}
    assert scores[f'{score}_simulated'] == alone[metric]
  features = judge_lib.judge_features(judge, evaluated.images)
  assert features.shape == (40, 8)  # the classifier's particletype_hidden: as wide as its features


@pytest.mark.fast
def test_the_judge_network_can_be_chosen(tmp_path):
  config = helpers.tiny_config()
  assert judge_lib.judge_config(config, str(tmp_path)).name == 'resnet'
  config.eval.judge_network = 'thin_resnet'
  judge = judge_lib.judge_config(config, str(tmp_path))
  assert {field: judge[field] for field in configs.THIN_RESNET} == configs.THIN_RESNET
  assert judge.seed == config.predictor.seed + 1
  config.eval.judges = 'five'
  with pytest.raises(ValueError, match="eval.judges='five'"):
    judge_lib.judge_members(config, str(tmp_path))
