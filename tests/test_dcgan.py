"""The PyTorch tutorial's DCGAN: shapes, parameter counts, alignment with PyTorch, init; the
DCGAN notebook's training iteration (one generator pass, the 0.9 target for both players)."""

import dataclasses
import json
import math
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from jaxgan import assembly
from jaxgan import configs
from jaxgan import models
from jaxgan import steps
from jaxgan import train
from jaxgan.data import pipeline
from jaxgan.models import dcgan
from jaxgan.models import heads

LATENT = 100
EXPERIMENTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           'experiments')
TINY_GENERATOR = (8, 4, 3)  # 1 -> 4 -> 8 -> 16
TINY_CRITIC = (4, 8)  # 16 -> 8 -> 4


def _num_params(variables) -> int:
  return sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(variables['params']))


def _generator_variables(generator, batch: int = 2, label_dim: int = 0):
  return jax.eval_shape(lambda: generator.init(jax.random.key(0), jnp.ones((batch, LATENT)),
                                              jnp.ones((batch, label_dim)), train=False))


def _naive_conv_transpose(x: np.ndarray, weight: np.ndarray, stride: int,
                          padding: int) -> np.ndarray:
  """PyTorch's ConvTranspose2d by definition: each input pixel scatters weight-scaled k x k
  patches, then `padding` rows and columns are cut from each border.

  Args:
    x: (H, W, C_in) one image.
    weight: (C_in, C_out, k, k), PyTorch's layout.
  """
  height, width, _ = x.shape
  k = weight.shape[-1]
  full = np.zeros(((height - 1) * stride + k, (width - 1) * stride + k, weight.shape[1]))
  for i in range(height):
    for j in range(width):
      full[i * stride:i * stride + k, j * stride:j * stride + k] += np.einsum(
          'c,coab->abo', x[i, j], weight)
  return full[padding:full.shape[0] - padding, padding:full.shape[1] - padding]


def _torch_weight(flax_kernel) -> np.ndarray:
  """A `transpose_kernel=True` flax kernel (kh, kw, out, in) in PyTorch's (in, out, kh, kw)."""
  return np.transpose(np.asarray(flax_kernel, np.float64), (3, 2, 0, 1))


@pytest.mark.parametrize('train', [True, False])
def test_generator_makes_64x64_rgb_in_tanh_range(train):
  generator = dcgan.Generator()
  z = jax.random.normal(jax.random.key(1), (2, LATENT))
  variables = generator.init(jax.random.key(0), z, jnp.zeros((2, 0)), train=False)
  images = generator.apply(variables, z, jnp.zeros((2, 0)), train=train,
                           mutable=['batch_stats'])[0]
  assert images.shape == (2, 64, 64, 3) and images.dtype == jnp.float32
  assert np.all(np.abs(images) <= 1.0) and np.std(images) > 0


def test_parameter_counts_equal_the_pytorch_tutorial():
  """nz=100, ngf=ndf=64, nc=3: sum(p.numel() for p in net.parameters()) in PyTorch."""
  assert _num_params(_generator_variables(dcgan.Generator())) == 3_576_704
  critic_variables = jax.eval_shape(dcgan.Critic().init, jax.random.key(0),
                                    jnp.ones((2, 64, 64, 3)))
  assert _num_params(critic_variables) == 2_765_568
  assert 'bias' not in critic_variables['params']['CriticHead_0']['score']


def test_conditional_generator_input():
  variables = _generator_variables(dcgan.Generator(), label_dim=5)
  assert variables['params']['ConvTranspose_0']['kernel'].shape == (4, 4, 512, LATENT + 5)


def test_transposed_convs_match_pytorch_definition():
  """Every generator layer equals a naive scatter-add ConvTranspose2d with PyTorch's padding."""
  generator = dcgan.Generator(features=TINY_GENERATOR)
  z, labels = jax.random.normal(jax.random.key(1), (2, 6)), jax.random.normal(jax.random.key(2),
                                                                               (2, 2))
  variables = generator.init(jax.random.key(0), z, labels, train=False)
  _, state = generator.apply(variables, z, labels, train=True, capture_intermediates=True,
                             mutable=['intermediates', 'batch_stats'])
  outputs = state['intermediates']
  layer_input = np.concatenate([z, labels], axis=-1)[:, None, None, :]
  for index in range(len(TINY_GENERATOR)):
    name = f'ConvTranspose_{index}'
    stride, padding = (1, 0) if index == 0 else (2, 1)
    weight = _torch_weight(variables['params'][name]['kernel'])
    expected = np.stack([_naive_conv_transpose(x, weight, stride, padding) for x in layer_input])
    np.testing.assert_allclose(outputs[name]['__call__'][0], expected, rtol=1e-4, atol=1e-5)
    if index < len(TINY_GENERATOR) - 1:
      layer_input = np.maximum(np.asarray(outputs[f'BatchNorm_{index}']['__call__'][0]), 0)
  assert outputs['ConvTranspose_2']['__call__'][0].shape == (2, 16, 16, 3)


@pytest.mark.parametrize('network', ['generator', 'critic'])
def test_conv_impls_agree(network):
  """impl 'auto' (on CPU: the im2col kernel gradient in the generator, 'im2col_phase' in the
  critic) and 'xla' give the same outputs and gradients (parameters and first input) for the same
  params (training mode: BatchNorm on batch statistics)."""
  rng = np.random.default_rng(0)
  if network == 'generator':
    make = lambda impl: dcgan.Generator(features=TINY_GENERATOR, conv_impl=impl)
    inputs = (rng.standard_normal((3, 6), np.float32), np.zeros((3, 0), np.float32))
    score = lambda output: output
  else:
    make = lambda impl: dcgan.Critic(features=TINY_CRITIC, label_dim=2, conv_impl=impl)
    inputs = (rng.standard_normal((3, 16, 16, 3), np.float32),
              rng.standard_normal((3, 2), np.float32))
    score = lambda output: output.scores
  # numpy's draws for the variables: flax's initialisers take seconds each to compile here.
  shapes = jax.eval_shape(lambda: make('xla').init(jax.random.key(0), *inputs, train=False))
  variables = jax.tree.map(lambda leaf: rng.standard_normal(leaf.shape, np.float32), shapes)

  def loss(params, first_input, impl):
    output, _ = make(impl).apply({**variables, 'params': params}, first_input, inputs[1],
                                 train=True, mutable=['batch_stats'])
    return jnp.sum(jnp.sin(3.0 * score(output))), output

  loss_and_grads = jax.jit(jax.value_and_grad(loss, (0, 1), has_aux=True), static_argnums=2)
  (got_loss, got), got_grads = loss_and_grads(variables['params'], inputs[0], 'auto')
  (want_loss, want), want_grads = loss_and_grads(variables['params'], inputs[0], 'xla')
  np.testing.assert_allclose(score(got), score(want), rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(got_loss, want_loss, rtol=1e-4, atol=1e-5)
  for got_grad, want_grad in zip(jax.tree.leaves(got_grads), jax.tree.leaves(want_grads)):
    np.testing.assert_allclose(got_grad, want_grad, rtol=1e-3, atol=1e-4)


def test_initialisation_statistics():
  """Conv kernels ~ N(0, 0.02), BatchNorm scale ~ N(1, 0.02), BatchNorm bias 0."""
  z = jnp.ones((2, LATENT))
  generator_params = dcgan.Generator().init(jax.random.key(0), z, jnp.zeros((2, 0)),
                                            train=False)['params']
  critic_params = dcgan.Critic().init(jax.random.key(1), jnp.ones((2, 64, 64, 3)))['params']
  kernels, scales, biases = [], [], []
  for params in (generator_params, critic_params):
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
      name = jax.tree_util.keystr(path)
      if 'BatchNorm' in name:
        (scales if 'scale' in name else biases).append(np.ravel(leaf))
      else:
        kernels.append(np.ravel(leaf))
  for kernel in kernels:
    np.testing.assert_allclose([kernel.mean(), kernel.std()], [0.0, 0.02], atol=2e-3)
  scales = np.concatenate(scales)
  np.testing.assert_allclose([scales.mean(), scales.std()], [1.0, 0.02], atol=2e-3)
  assert len(kernels) == 10 and len(scales) == (512 + 256 + 128 + 64) + (128 + 256 + 512)
  assert not np.any(np.concatenate(biases))


@pytest.mark.parametrize('label_dim,aux_dim', [(0, 0), (5, 0), (0, 7), (5, 7)])
def test_critic_output_shapes(label_dim, aux_dim):
  critic = dcgan.Critic(label_dim=label_dim, aux_dim=aux_dim)
  images, labels = jnp.ones((3, 64, 64, 3)), jnp.ones((3, label_dim)) if label_dim else None
  variables = jax.eval_shape(critic.init, jax.random.key(0), images, labels)
  output = jax.eval_shape(critic.apply, variables, images, labels)
  assert isinstance(output, heads.CriticOutput) and output.scores.shape == (3,)
  assert output.aux is None if not aux_dim else output.aux.shape == (3, aux_dim)


def test_batch_norm_running_statistics_follow_pytorch_momentum():
  """PyTorch momentum 0.1: after one training batch, running mean = 0.1 x batch mean."""
  critic = dcgan.Critic(features=TINY_CRITIC)
  images = jax.random.normal(jax.random.key(1), (4, 16, 16, 3)) + 3.0
  variables = critic.init(jax.random.key(0), images)
  _, state = critic.apply(variables, images, train=True,
                          mutable=['batch_stats', 'intermediates'], capture_intermediates=True)
  conv = np.asarray(state['intermediates']['Conv_1']['__call__'][0])
  np.testing.assert_allclose(state['batch_stats']['BatchNorm_0']['mean'],
                             0.1 * conv.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-6)


def test_cross_device_batch_norm_equals_one_device():
  """With axis_name, 4 devices of 2 examples give the statistics of the whole batch of 8."""
  images = jax.random.normal(jax.random.key(1), (8, 16, 16, 3))
  variables = dcgan.Critic(features=TINY_CRITIC).init(jax.random.key(0), images)
  apply = lambda critic, x: critic.apply(variables, x, train=True, mutable=['batch_stats'])
  single = apply(dcgan.Critic(features=TINY_CRITIC), images)
  sharded = jax.pmap(lambda x: apply(dcgan.Critic(features=TINY_CRITIC, axis_name='batch'), x),
                     axis_name='batch')(images.reshape(4, 2, 16, 16, 3))
  np.testing.assert_allclose(sharded[0].scores.reshape(-1), single[0].scores, rtol=1e-4,
                             atol=1e-5)
  for leaf, expected in zip(jax.tree_util.tree_leaves(sharded[1]),
                            jax.tree_util.tree_leaves(single[1])):
    np.testing.assert_allclose(leaf[0], expected, rtol=1e-4, atol=1e-6)


def _model_config(**overrides) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict({
      'name': 'dcgan', 'latent_dim': LATENT, 'image_size': 64, 'spectral_norm': 'none',
      'generator_features': (512, 256, 128, 64, 3), 'critic_features': (64, 128, 256, 512),
      'generator_conv_impl': 'im2col', 'critic_conv_impl': 'xla'})
  config.update(overrides)
  return config


def test_from_config_through_the_registry():
  generator, critic = models.build_gan(_model_config(), 'batch', jnp.bfloat16, label_dim=5,
                                       aux_dim=5)
  assert isinstance(generator, dcgan.Generator) and isinstance(critic, dcgan.Critic)
  assert generator.axis_name == critic.axis_name == 'batch'
  assert generator.dtype == critic.dtype == jnp.bfloat16
  assert (generator.conv_impl, critic.conv_impl) == ('im2col', 'xla')
  assert critic.label_dim > 0 and critic.aux_dim == critic.label_dim


@pytest.mark.parametrize('field, value', [('generator_pixel_noise', True),
                                          ('generator_output_features', 16),
                                          ('critic_view', 'polar')])
def test_ctgan_only_fields_are_refused(field, value):
  with pytest.raises(ValueError, match=f'model.{field}=.*ctgan models only'):
    models.build_gan(_model_config(**{field: value}))


@pytest.mark.fast
def test_small_images_for_digits():
  config = _model_config(image_size=8, generator_features=(8, 1), critic_features=(8,))
  generator, critic = dcgan.from_config(config)
  z, labels = jnp.ones((2, LATENT)), jnp.zeros((2, 0))
  images = jax.eval_shape(lambda: generator.init_with_output(jax.random.key(0), z, labels,
                                                             train=False))[0]
  assert images.shape == (2, 8, 8, 1)
  scores = jax.eval_shape(critic.init_with_output, jax.random.key(0), jnp.ones(images.shape))[0]
  assert scores.scores.shape == (2,)


@pytest.mark.parametrize('overrides,match', [
    (dict(image_size=32), 'makes 64x64'),
    (dict(critic_features=(64, 128, 256)), 'not the 4x4'),
])
def test_from_config_rejects_inconsistent_sizes(overrides, match):
  with pytest.raises(ValueError, match=match):
    dcgan.from_config(_model_config(**overrides))


def test_bfloat16_computation_keeps_float32_params_and_outputs():
  generator = dcgan.Generator(features=TINY_GENERATOR, dtype=jnp.bfloat16)
  critic = dcgan.Critic(features=TINY_CRITIC, aux_dim=2, dtype=jnp.bfloat16)
  z, labels = jnp.ones((2, 6)), jnp.zeros((2, 0))
  images, generator_variables = generator.init_with_output(jax.random.key(0), z, labels,
                                                           train=False)
  output, critic_variables = critic.init_with_output(jax.random.key(1), images)
  assert images.dtype == output.scores.dtype == output.aux.dtype == jnp.float32
  leaves = jax.tree_util.tree_leaves((generator_variables, critic_variables))
  assert all(leaf.dtype == jnp.float32 for leaf in leaves)


def _tiny_notebook_config(**train_overrides) -> ml_collections.ConfigDict:
  """The DCGAN notebook's loss and loop on 16x16 pictures with toy widths, batch 4."""
  config = configs.pictures()
  config.model.update(image_size=16, latent_dim=6, generator_features=TINY_GENERATOR,
                      critic_features=TINY_CRITIC)
  config.loss.update(label_smoothing=0.1, smooth_generator_target=True)
  config.train.update({'reuse_fakes': True, 'batch_size': 4, **train_overrides})
  return config


def _one_iteration(config, real, count_generator_passes=None):
  """The state and metrics after one pmap-ed `steps.train_iteration` on `real` (one device),
  and the state before it. `count_generator_passes` (a list) gets one entry per generator
  application in the traced iteration."""
  cfg = assembly.build_step_config(config, None)
  if count_generator_passes is not None:
    cfg = dataclasses.replace(cfg, generator=_Counting(cfg.generator, count_generator_passes))
  state = assembly.initial_state(config, real.shape[1:])
  devices = jax.devices()[:1]
  iteration = steps.make_parallel_iteration(cfg, devices)
  new, metrics = iteration(steps.replicate(state, devices),
                           {'images': real[None], 'labels': {}}, {})
  return state, jax.tree.map(lambda x: np.asarray(x[0]), (new, metrics))


@dataclasses.dataclass(frozen=True)
class _Counting:
  """A module's stand-in that records each of its applications in `calls`."""
  module: nn.Module
  calls: list

  def apply(self, *args, **kwargs):
    self.calls.append(1)
    return self.module.apply(*args, **kwargs)


def _bce(logits, target):
  """PyTorch's BCELoss of sigmoid(logits) against `target`, by its definition."""
  return -jnp.mean(target * jax.nn.log_sigmoid(logits)
                   + (1 - target) * jax.nn.log_sigmoid(-logits))


def _notebook_iteration(config, state, real, z):
  """The DCGAN notebook's iteration (its training-loop cell), written out: one generator pass
  on z; the discriminator's BCE against 0.9 on the real batch and 0 on the detached fakes, each
  batch through it separately in training mode, then its Adam step; the generator's BCE against
  0.9 of the updated discriminator on the same fakes. Returns (generator gradients, critic
  gradients, generator loss, generator BatchNorm statistics after the pass)."""
  generator, critic = assembly.build_networks(config)
  labels = jnp.zeros((len(z), 0))

  def run_generator(params):
    variables = {'params': params, 'batch_stats': state.generator_batch_stats}
    return generator.apply(variables, z, labels, train=True, mutable=['batch_stats'])

  def scores(params, batch_stats, images):
    output, updates = critic.apply({'params': params, 'batch_stats': batch_stats}, images,
                                   train=True, mutable=['batch_stats'])
    return output.scores, updates['batch_stats']

  fake, generator_stats = run_generator(state.generator_params)

  def critic_loss(params):
    real_scores, stats = scores(params, state.critic_batch_stats, real)
    return _bce(real_scores, 0.9) + _bce(scores(params, stats, fake)[0], 0.0)

  critic_grads = jax.grad(critic_loss)(state.critic_params)
  tx = optax.adam(2e-4, b1=0.5, b2=0.999)
  updates, _ = tx.update(critic_grads, state.critic_opt_state, state.critic_params)
  critic_params = optax.apply_updates(state.critic_params, updates)

  def generator_loss(params):
    images = run_generator(params)[0]
    return _bce(scores(critic_params, state.critic_batch_stats, images)[0], 0.9)

  loss, generator_grads = jax.value_and_grad(generator_loss)(state.generator_params)
  return generator_grads, critic_grads, loss, generator_stats['batch_stats']


def test_reused_fakes_iteration_is_the_notebooks():
  """With train.reuse_fakes and loss.smooth_generator_target, one iteration's gradients (Adam's
  first moment after one step is 0.5 x the gradient), generator loss and generator BatchNorm
  statistics (moved once) are those of the notebook's loop on the critic update's z."""
  config = _tiny_notebook_config()
  real = jax.random.uniform(jax.random.key(3), (4, 16, 16, 3), minval=-1.0, maxval=1.0)
  state, (new, metrics) = _one_iteration(config, real)
  # z of example i: fold_in(fold_in(fold_in(fold_in(run key, step 0), update 0), latent 0), i).
  key = jax.random.fold_in(jax.random.fold_in(jax.random.wrap_key_data(state.key), 0), 0)
  z = jnp.stack([jax.random.normal(jax.random.fold_in(jax.random.fold_in(key, 0), i), (6,))
                 for i in range(4)])
  generator_grads, critic_grads, loss, stats = _notebook_iteration(config, state, real, z)
  assert metrics['generator_loss'] == pytest.approx(float(loss), rel=1e-5)
  for got, want, scale in ((new.generator_opt_state[0].mu, generator_grads, 0.5),
                           (new.critic_opt_state[0].mu, critic_grads, 0.5),
                           (new.generator_batch_stats, stats, 1.0)):
    for got_leaf, want_leaf in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
      np.testing.assert_allclose(got_leaf, scale * np.asarray(want_leaf), rtol=2e-4, atol=1e-7)


@pytest.mark.parametrize('reuse_fakes, passes', [(True, 1), (False, 2)])
def test_generator_runs_once_an_iteration_with_reused_fakes(reuse_fakes, passes):
  calls = []
  real = jnp.zeros((4, 16, 16, 3))
  _one_iteration(_tiny_notebook_config(reuse_fakes=reuse_fakes), real, calls)
  assert len(calls) == passes


def test_reused_fakes_need_one_critic_update():
  with pytest.raises(ValueError, match='reuse_fakes needs train.n_critic=1'):
    assembly.build_step_config(_tiny_notebook_config(n_critic=2), None)


def test_partial_batches_cover_each_epoch_as_a_dataloader_without_drop_last():
  """10 examples in batches of 4: each epoch is [4, 4, 2] disjoint batches covering all 10,
  reshuffled between epochs; dropping the partial batch leaves [4, 4]."""
  for epoch in range(2):
    batches = [pipeline.batch_indices(10, 4, seed=3, step=3 * epoch + index, keep_partial=True)
               for index in range(3)]
    assert [len(batch) for batch in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches)) == list(range(10))
  first_epochs = [pipeline.batch_indices(10, 4, 3, step, keep_partial=True) for step in (0, 3)]
  assert not np.array_equal(*first_epochs)
  assert pipeline.steps_per_epoch(10, 4, keep_partial=True) == 3
  assert pipeline.steps_per_epoch(10, 4) == 2


def _notebook_schedule(epochs, batches_per_epoch, save_every, sample_every):
  """The iterations (counted after they ran) where the notebook's loop saves the generator and
  samples, by its own counters: `iters % 500 == 0`, `batch_no % 200 == 0` or the last batch,
  and the final save after the loop."""
  saves, samples, iters = set(), set(), 0
  for e in range(epochs):
    for batch_no in range(batches_per_epoch):
      if iters % save_every == 0:
        saves.add(iters + 1)
      if batch_no % sample_every == 0 or (e == epochs - 1 and batch_no == batches_per_epoch - 1):
        samples.add(iters + 1)
      iters += 1
  return saves | {iters}, samples


@pytest.mark.parametrize('notebook', [True, False])
def test_notebook_loop_schedule_and_partial_batches(tmp_path, notebook):
  """10 pictures, batch 4, 2 epochs: with the notebook's options the run takes 3 batches an
  epoch (the last of 2) and saves and samples where the notebook's counters say; without them,
  2 batches an epoch and every k-th iteration."""
  config = _tiny_notebook_config(
      num_epochs=2, num_devices=1, checkpoint_every=3, sample_every=2, max_to_keep=10,
      keep_partial_batch=notebook, count_from_zero=notebook, sample_by_epoch=notebook)
  config.data.update(num_examples=10, image_size=16, validation_fraction=0.0)
  state = train.train_and_evaluate(config, str(tmp_path))
  per_epoch = 3 if notebook else 2
  assert int(state.step) == 2 * per_epoch
  saves, samples = (_notebook_schedule(2, 3, 3, 2) if notebook
                    else ({3, 2 * per_epoch}, {2, 4}))
  assert sorted(int(name) for name in os.listdir(tmp_path / 'checkpoints')) == sorted(saves)
  assert sorted(os.listdir(tmp_path / 'samples')) == sorted(
      ['progress.gif'] + [f'step_{step:07d}.png' for step in samples])


def test_partial_batch_must_split_over_the_devices(tmp_path):
  """10 examples in batches of 4 leave a last batch of 2, which 4 devices cannot share."""
  config = _tiny_notebook_config(num_epochs=1, num_devices=4, keep_partial_batch=True)
  config.data.update(num_examples=10, image_size=16, validation_fraction=0.0)
  with pytest.raises(ValueError, match='last batch of an epoch holds 2 of the 10'):
    train.train_and_evaluate(config, str(tmp_path))
  assert not (tmp_path / 'config.json').exists()


def test_exact_config_has_the_notebooks_values():
  """experiments/dcgan.py, item by item against the notebook (cells 4, 6, 19, 22, 24)."""
  config = configs.from_file(os.path.join(EXPERIMENTS, 'dcgan.py'))
  assert (config.loss.name, config.loss.label_smoothing) == ('non_saturating', 0.1)
  assert config.loss.smooth_generator_target and config.train.reuse_fakes
  assert (config.train.checkpoint_every, config.train.sample_every) == (500, 200)
  assert config.train.count_from_zero and config.train.sample_by_epoch
  assert not (config.train.sample_each_epoch or config.train.checkpoint_each_epoch)
  assert (config.data.validation_fraction, config.train.keep_partial_batch) == (0.0, True)
  assert config.data.images.preprocessing == 'torchvision'
  assert (config.train.num_epochs, config.train.batch_size, config.model.latent_dim) == (
      30, 128, 100)


def test_revised_config_differs_from_the_exact_one_in_its_two_choices():
  exact = configs.from_file(os.path.join(EXPERIMENTS, 'dcgan.py'))
  revised = configs.from_file(os.path.join(EXPERIMENTS, 'dcgan_revised.py'))
  assert configs.differences(json.loads(exact.to_json_best_effort()), revised) == {
      'loss.smooth_generator_target': (True, False),
      'data.images.preprocessing': ('torchvision', 'lanczos')}
