"""experiments/ctgan_paper.py against the source's code (sgh14/CTGANs): its Keras networks' shapes
counted by hand from config_files/GANs-gamma.yml and the layers of generator.py and
discriminator.py, and each option that makes jaxgan's networks and step the source's."""

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from jax import lax

from jaxgan import assembly
from jaxgan import configs
from jaxgan import losses
from jaxgan import models
from jaxgan import optimizers
from jaxgan import state as state_lib
from jaxgan import steps
from jaxgan.models import ctgan
from jaxgan.models import ctgan_frame

PAPER = 'experiments/ctgan_paper.py'

# The source's networks: GANs-gamma.yml lines 89-101 (generator) and 134-139 (critic).
LATENT_DIM = 512
LABEL_DIM = 1 + 2  # energy and direction (Reco, line 4): the particle type is not a label there
DENSE_UNITS, BASE_SHAPE = 4608, (3, 3, 512)
GENERATOR_BLOCKS = (256, 128, 64, 1)  # 3x3 convs without bias; BatchNorm on all but the last
CRITIC_BLOCKS = (128, 256, 512, 1024)  # 5x5 stride-2 convs with bias (discriminator.py:12, 16)


def keras_generator_shapes() -> tuple[list, list]:
  """(trainable, non-trainable) weight shapes of generator.py's Generator with the YAML's
  numbers: Dense kernels (in, out), Conv2D kernels (kh, kw, in, out); a BatchNormalization has
  trainable gamma and beta and non-trainable moving mean and variance, each (channels,)."""
  trainable = [(LATENT_DIM + LABEL_DIM, DENSE_UNITS), (DENSE_UNITS,), (DENSE_UNITS,)]
  moving = [(DENSE_UNITS,), (DENSE_UNITS,)]
  channels = BASE_SHAPE[-1]
  for index, features in enumerate(GENERATOR_BLOCKS):
    trainable.append((3, 3, channels, features))
    if index < len(GENERATOR_BLOCKS) - 1:  # {filters: 1, use_batchnorm: false}
      trainable += [(features,), (features,)]
      moving += [(features,), (features,)]
    channels = features
  return trainable, moving


def keras_critic_shapes() -> list:
  """Trainable weight shapes of discriminator.py's Discriminator: conv kernels and biases, then
  Dense(1) on the flattened 3x3x1024 features, with its bias."""
  shapes, channels = [], 1
  for features in CRITIC_BLOCKS:
    shapes += [(5, 5, channels, features), (features,)]
    channels = features
  return shapes + [(3 * 3 * channels, 1), (1,)]


def leaf_shapes(tree) -> list:
  return sorted(leaf.shape for leaf in jax.tree.leaves(tree))


def paper_networks():
  """The generator and critic of experiments/ctgan_paper.py, as the training step builds them."""
  return ctgan.from_config(configs.from_file(PAPER).model)


@pytest.mark.fast
def test_paper_networks_have_the_source_keras_shapes_and_counts():
  """Keras counts 3,932,096 trainable generator weights (+10,112 moving statistics: its summary's
  total is 3,942,208) and 17,217,537 critic weights; jaxgan's params are the trainable ones, its
  batch_stats the moving statistics."""
  trainable, moving = keras_generator_shapes()
  count = lambda shapes: sum(math.prod(shape) for shape in shapes)
  assert (count(trainable), count(moving), count(keras_critic_shapes())) == (
      3_932_096, 10_112, 17_217_537)
  generator, critic = paper_networks()
  variables = jax.eval_shape(lambda: generator.init(
      jax.random.key(0), jnp.ones((1, LATENT_DIM)), jnp.ones((1, LABEL_DIM)), train=False))
  assert leaf_shapes(variables['params']) == sorted(trainable)
  assert leaf_shapes(variables['batch_stats']) == sorted(moving)
  critic_variables = jax.eval_shape(critic.init, jax.random.key(0), jnp.ones((1, 43, 43, 1)))
  assert leaf_shapes(critic_variables['params']) == sorted(keras_critic_shapes())


@pytest.mark.fast
def test_paper_config_takes_the_source_code_values():
  """Each value with the source line it comes from."""
  config = configs.from_file(PAPER)
  assert config.model.generator_dense_norm  # generator.py:112-118, 145-148
  assert config.model.generator_last_block == 'leaky_relu'  # generator.py:60, 66; yml:99
  assert (config.model.batchnorm_momentum, config.model.batchnorm_epsilon) == (0.99, 1e-3)
  assert config.model.init == 'orthogonal'  # generator.py:69, discriminator.py:19, 66; yml:93
  # discriminator.py:18, 65; yml:136-139
  assert tuple(config.model.critic_block_dropout) == (0.0, 0.3, 0.3, 0.0)
  assert config.model.critic_head_dropout == 0.2
  assert (config.optimizer.eps, config.optimizer.eps_hat) == (1e-7, True)  # Keras' Adam
  assert (config.train.critic_fakes, config.train.generator_critic) == ('eval', 'eval')
  assert config.loss.gp_interpolation == 'normal'  # GANs.py:40


@pytest.mark.fast
def test_crop_and_pad_take_the_source_offsets():
  """Cropping2D and ZeroPadding2D [[2, 3], [2, 3]] (yml:101, 134): 2 rows and columns before the
  43x43 image, 3 after it, on the 48x48 canvas."""
  image = jnp.arange(43 * 43, dtype=jnp.float32).reshape(1, 43, 43, 1) + 1
  padded = np.asarray(ctgan.pad_center(image, ctgan.PADDED_SIZE))[0, ..., 0]
  np.testing.assert_array_equal(np.pad(np.asarray(image)[0, ..., 0], ((2, 3), (2, 3))), padded)
  np.testing.assert_array_equal(ctgan.crop_center(padded[None, ..., None], 43), image)


def capture(module, variables, *args, **kwargs):
  """(output, {module name: its output}) of `module.apply` with `capture_intermediates`."""
  output, state = module.apply(variables, *args, capture_intermediates=True,
                               mutable=['intermediates', 'batch_stats'], **kwargs)
  return output, {name: value['__call__'][0]
                  for name, value in state['intermediates'].items() if name != '__call__'}


TINY = dict(base_shape=(3, 3, 8), block_features=(8, 4, 4, 1))


def tiny_generator_call(generator, train=True, batch=6):
  z = jax.random.normal(jax.random.key(0), (batch, 5))
  labels = jax.random.normal(jax.random.key(1), (batch, 3))
  variables = generator.init(jax.random.key(2), z, labels, train=False)
  output, captured = capture(generator, variables, z, labels, train=train)
  return variables, jnp.concatenate([z, labels], axis=-1), output, captured


def leaky(x):
  return np.where(x > 0, x, 0.2 * x)


def test_dense_norm_is_a_bias_free_dense_layer_then_batchnorm_and_leaky_relu():
  """x W, normalised with the batch's statistics (scale 1, offset 0 at first), LeakyReLU(0.2),
  reshaped to (3, 3, 8), upsampled and convolved by the first block's kernel."""
  generator = ctgan.Generator(**TINY, dense_norm=True)
  variables, inputs, _, captured = tiny_generator_call(generator)
  params = variables['params']
  assert set(params['Dense_0']) == {'kernel'}
  dense = np.asarray(inputs) @ np.asarray(params['Dense_0']['kernel'])
  np.testing.assert_allclose(captured['Dense_0'], dense, rtol=1e-5, atol=1e-5)
  normed = (dense - dense.mean(0)) / np.sqrt(dense.var(0) + 1e-5)
  np.testing.assert_allclose(captured['BatchNorm_0'], normed, rtol=1e-4, atol=1e-4)
  upsampled = np.repeat(np.repeat(leaky(normed).reshape(-1, 3, 3, 8), 2, axis=1), 2, axis=2)
  expected = lax.conv_general_dilated(upsampled, params['Conv_0']['kernel'], (1, 1), 'SAME',
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  np.testing.assert_allclose(captured['Conv_0'], expected, rtol=1e-4, atol=1e-4)


def test_default_dense_layer_has_a_bias_and_no_batchnorm():
  variables, _, _, captured = tiny_generator_call(ctgan.Generator(**TINY))
  assert set(variables['params']['Dense_0']) == {'kernel', 'bias'}
  assert len(variables['batch_stats']) == len(TINY['block_features']) - 1


@pytest.mark.parametrize('output_features', [0, 6])
def test_leaky_relu_last_block_draws_the_image_without_bias_through_leaky_relu(output_features):
  """The image is the centre 43x43 of LeakyReLU(0.2) of the last conv, which has no bias; the
  'linear' default is that conv itself, with a bias."""
  for last_block, activation in (('leaky_relu', leaky), ('linear', lambda x: x)):
    generator = ctgan.Generator(**TINY, last_block=last_block, output_features=output_features)
    variables, _, image, captured = tiny_generator_call(generator)
    last = f'Conv_{len(TINY["block_features"]) - (0 if output_features else 1)}'
    assert ('bias' in variables['params'][last]) == (last_block == 'linear')
    canvas = np.asarray(captured[last])
    np.testing.assert_allclose(image, activation(canvas)[:, 2:45, 2:45], rtol=1e-6, atol=1e-6)
    assert (canvas < 0).any()  # the activation is tried on negative values too


def kernel_matrices(variables):
  """Every kernel reshaped to (fan_in, fan_out), as Keras' Orthogonal sees it."""
  return [np.asarray(leaf).reshape(-1, leaf.shape[-1])
          for path, leaf in jax.tree_util.tree_leaves_with_path(variables['params'])
          if 'kernel' in jax.tree_util.keystr(path)]


def is_orthogonal(matrix):
  """Orthonormal columns (rows where the matrix is wide): Keras' Orthogonal with gain 1."""
  short = min(matrix.shape)
  gram = matrix.T @ matrix if matrix.shape[0] >= matrix.shape[1] else matrix @ matrix.T
  return np.allclose(gram, np.eye(short), atol=1e-5)


def test_orthogonal_init_makes_every_kernel_orthogonal_and_the_default_does_not():
  """Generator (dense kernel wide, conv kernels tall) and critic (convs, score vector)."""
  for init, expected in (('orthogonal', True), ('lecun_normal', False)):
    kernel_init = ctgan.kernel_init(init)
    generator = ctgan.Generator(**TINY, kernel_init=kernel_init, dense_norm=True)
    critic = ctgan.Critic(block_features=(4, 4, 8, 8), kernel_init=kernel_init)
    matrices = (kernel_matrices(tiny_generator_call(generator)[0])
                + kernel_matrices(critic.init(jax.random.key(3), jnp.zeros((1, 43, 43, 1)))))
    assert len(matrices) == 1 + 4 + 4 + 1
    assert [is_orthogonal(m) for m in matrices] == [expected] * len(matrices), init


def test_batchnorm_takes_the_configured_momentum_and_epsilon():
  """Keras' 0.99 and 1e-3 on the dense layer's BatchNorm: one training call moves the running
  averages from (0, 1) by 1% towards the batch's mean and variance, and normalises with eps."""
  generator = ctgan.Generator(**TINY, dense_norm=True, batchnorm_momentum=0.99,
                              batchnorm_epsilon=1e-3)
  variables, inputs, _, captured = tiny_generator_call(generator)
  _, stats = generator.apply(variables, inputs[:, :5], inputs[:, 5:], train=True,
                             mutable=['batch_stats'])
  dense = np.asarray(captured['Dense_0'])
  running = stats['batch_stats']['BatchNorm_0']
  np.testing.assert_allclose(running['mean'], 0.01 * dense.mean(0), rtol=1e-4, atol=1e-7)
  np.testing.assert_allclose(running['var'], 0.99 + 0.01 * dense.var(0), rtol=1e-5)
  normed = (dense - dense.mean(0)) / np.sqrt(dense.var(0) + 1e-3)
  np.testing.assert_allclose(captured['BatchNorm_0'], normed, rtol=1e-4, atol=1e-4)


def keras_adam_updates(grads, lr, b1, b2, eps):
  """TensorFlow's ResourceApplyAdam step by step: lr_t = lr sqrt(1 - b2^t) / (1 - b1^t),
  delta = -lr_t m / (sqrt(v) + eps); the parameter's deltas, in float64."""
  m = v = 0.0
  deltas = []
  for t, g in enumerate(grads, start=1):
    m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
    deltas.append(-lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps))
  return np.array(deltas)


def optimizer_deltas(tx, grads):
  deltas, opt_state, params = [], tx.init(jnp.zeros(len(grads[0]))), jnp.zeros(len(grads[0]))
  for g in grads:
    update, opt_state = tx.update(jnp.asarray(g, jnp.float32), opt_state, params)
    deltas.append(np.asarray(update))
  return np.array(deltas)


@pytest.mark.fast
def test_paper_optimizers_step_as_keras_adam():
  """Gradients of the size of eps, where its placement matters: the paper config's optimizers
  (Adam 2e-4, (0.5, 0.9), eps 1e-7 before the bias correction) against TensorFlow's formula;
  optax's placement of the same eps differs from it."""
  grads = np.array([[3e-7, -1e-7, 2e-6], [1e-7, 4e-7, -2e-6], [-2e-7, 0.0, 1e-6]])
  expected = keras_adam_updates(grads, 2e-4, 0.5, 0.9, 1e-7)
  generator_tx, critic_tx = assembly.make_optimizers(configs.from_file(PAPER))
  for tx in (generator_tx, critic_tx):
    np.testing.assert_allclose(optimizer_deltas(tx, grads), expected, rtol=1e-5)
  optax_form = optimizer_deltas(optimizers.adam(2e-4, 0.5, 0.9, 1e-7), grads)
  assert not np.allclose(optax_form, expected, rtol=1e-2)


@pytest.mark.fast
def test_default_optimizer_is_optax_adam():
  config = configs.telescope()
  grads = np.array([[0.3, -1.0], [0.2, 0.5]])
  for tx in assembly.make_optimizers(config):
    np.testing.assert_array_equal(optimizer_deltas(tx, grads),
                                  optimizer_deltas(optax.adam(2e-4, b1=0.5, b2=0.9), grads))


def test_critic_dropout_acts_after_the_chosen_blocks_and_before_the_dense_layer():
  """Rates (0, 0.3, 0.3, 0) and 0.2: three dropouts, on LeakyReLU(0.2) of blocks 2 and 3 and on
  the flattened block 4; kept entries scaled by 1 / (1 - rate), the dropped share near the
  rate; none in evaluation mode."""
  critic = ctgan.Critic(block_features=(4, 8, 8, 8), dropout_rates=(0.0, 0.3, 0.3, 0.0),
                        head_dropout=0.2)
  images = jax.random.normal(jax.random.key(0), (64, 43, 43, 1))
  variables = critic.init(jax.random.key(1), images)
  _, captured = capture(critic, variables, images, train=True,
                        rngs={'dropout': jax.random.key(2)})
  assert sorted(name for name in captured if name.startswith('Dropout')) == [
      'Dropout_0', 'Dropout_1', 'Dropout_2']
  for dropout, conv, rate in (('Dropout_0', 'Conv_1', 0.3), ('Dropout_1', 'Conv_2', 0.3),
                              ('Dropout_2', 'Conv_3', 0.2)):
    dropped = np.asarray(captured[dropout]).reshape(-1)
    activation = leaky(np.asarray(captured[conv])).reshape(-1)
    kept = dropped != 0
    np.testing.assert_allclose(dropped[kept], activation[kept] / (1 - rate), rtol=1e-5)
    assert abs(1 - kept.mean() - rate) < 0.04, dropout
  evaluated = critic.apply(variables, images).scores
  plain = ctgan.Critic(block_features=(4, 8, 8, 8)).apply(variables, images).scores
  np.testing.assert_array_equal(evaluated, plain)


def model_config(**fields) -> ml_collections.ConfigDict:
  """The telescope family's `model` fields, with `fields` set."""
  config = configs.telescope().model
  config.update(fields)
  return config


@pytest.mark.fast
def test_critic_dropout_rates_per_block_or_one_rate_for_every_block():
  """`model.critic_dropout` (one rate, as configs before per-block rates) still applies after
  every block; `model.critic_block_dropout` replaces it and needs one rate per block."""
  assert ctgan.critic_dropout_rates(model_config()) == (0.0,) * 4
  assert ctgan.critic_dropout_rates(model_config(critic_dropout=0.3)) == (0.3,) * 4
  assert ctgan.critic_dropout_rates(model_config(
      critic_dropout=0.3, critic_block_dropout=(0.0, 0.3, 0.3, 0.0))) == (0.0, 0.3, 0.3, 0.0)
  _, critic = ctgan.from_config(model_config(critic_block_dropout=(0.1, 0.2)))
  with pytest.raises(ValueError, match='one rate per critic block, 4'):
    jax.eval_shape(critic.init, jax.random.key(0), jnp.zeros((1, 43, 43, 1)))


@pytest.mark.fast
def test_unknown_init_and_last_block_are_named():
  with pytest.raises(ValueError, match='model.init'):
    ctgan.from_config(model_config(init='glorot'))
  generator, _ = ctgan.from_config(model_config(generator_last_block='tanh'))
  with pytest.raises(ValueError, match='model.generator_last_block'):
    jax.eval_shape(lambda: generator.init(jax.random.key(0), jnp.zeros((1, 4)),
                                          jnp.zeros((1, 0)), train=False))


@pytest.mark.fast
@pytest.mark.parametrize('field, value', [('generator_dense_norm', True), ('init', 'orthogonal'),
                                          ('batchnorm_momentum', 0.99)])
def test_generators_that_ignore_a_source_option_refuse_it(field, value):
  config = configs.from_file('experiments/ctgan.py').model
  config[field] = value
  with pytest.raises(ValueError, match=f'model.{field}'):
    ctgan_frame.from_config(config, label_columns={'direction': (2, 4)})
  config = configs.pictures().model
  config[field] = value
  with pytest.raises(ValueError, match=f'model.{field}'):
    models.build_gan(config)


BATCH, LATENT = 6, 5


def step_config(critic_fakes='train', generator_critic='train', critic_dropout=0.0):
  """A tiny unconditional WGAN step (no penalty, no labels) with the given modes."""
  generator = ctgan.Generator(**TINY, dense_norm=True, axis_name=steps.AXIS_NAME)
  critic = ctgan.Critic(block_features=(4, 4, 8, 8), head_dropout=critic_dropout)
  tx = optax.adam(1e-3)
  return steps.StepConfig(generator=generator, critic=critic, predictor=None, generator_tx=tx,
                          critic_tx=tx, adversarial=losses.get_adversarial_loss('wasserstein'),
                          penalty=steps.Penalty('none'), n_critic=1, latent_dim=LATENT,
                          label_spec=(), conditions_generator=False, critic_fakes=critic_fakes,
                          generator_critic=generator_critic)


def state_with_moved_averages(cfg):
  """A fresh state whose BatchNorm running averages are far from the batches' statistics."""
  state = state_lib.init_state(jax.random.key(0), cfg.generator.clone(axis_name=None),
                               cfg.critic, cfg.generator_tx, cfg.critic_tx, LATENT, 0,
                               (43, 43, 1))
  stats = jax.tree_util.tree_map_with_path(
      lambda path, x: jnp.full_like(x, 0.5 if 'mean' in jax.tree_util.keystr(path) else 3.0),
      state.generator_batch_stats)
  return state.replace(generator_batch_stats=stats)


def on_one_device(function, *args):
  """`function(*args)` inside the step's pmap on one device; its outputs without the device axis."""
  devices = jax.devices()[:1]
  outputs = jax.pmap(function, axis_name=steps.AXIS_NAME, devices=devices)(
      *steps.replicate(args, devices))
  return jax.tree.map(lambda x: x[0], outputs)


KEY = jax.random.key(7)
REAL = jax.random.normal(jax.random.key(8), (BATCH, 43, 43, 1))
NO_LABELS = jnp.zeros((BATCH, 0))


def step_latents():
  """The latent vectors that a step update drawn with KEY gives the generator."""
  return on_one_device(lambda _: steps.draw_latents(jax.random.fold_in(KEY, steps._LATENT),
                                                    BATCH, LATENT), jnp.zeros(()))


@pytest.mark.parametrize('mode', ['eval', 'train'])
def test_critic_fakes_come_from_the_generator_in_the_configured_mode(mode):
  """The critic's Wasserstein estimate mean D(real) - mean D(fake), with the fakes of the
  generator in `mode` ('eval': BatchNorm's running averages, left as they were); the two modes'
  fakes differ here, so the estimate tells them apart."""
  cfg = step_config(critic_fakes=mode)
  state = state_with_moved_averages(cfg)
  new_state, metrics = on_one_device(
      lambda s, r: steps.critic_update(cfg, s, r, {}, NO_LABELS, KEY, 0), state, REAL)
  z, generator = step_latents(), cfg.generator.clone(axis_name=None)
  fakes = {m: generator.apply(state.generator_variables, z, NO_LABELS, train=m == 'train',
                              mutable=['batch_stats'])[0] for m in ('eval', 'train')}
  assert not np.allclose(fakes['eval'], fakes['train'], atol=1e-2)
  score = lambda images: float(jnp.mean(cfg.critic.apply(
      {'params': state.critic_params}, images).scores))
  assert float(metrics['wasserstein_estimate']) == pytest.approx(
      score(REAL) - score(fakes[mode]), rel=1e-5, abs=1e-6)
  unchanged = jax.tree.leaves(jax.tree.map(np.array_equal, new_state.generator_batch_stats,
                                           state.generator_batch_stats))
  assert all(unchanged) == (mode == 'eval')


@pytest.mark.parametrize('mode', ['eval', 'train'])
def test_generator_update_scores_its_fakes_with_the_critic_in_the_configured_mode(mode):
  """With dropout 0.5 before the critic's dense layer, -mean D(G(z)) is the evaluation-mode
  critic's (no dropout) only in 'eval'."""
  cfg = step_config(generator_critic=mode, critic_dropout=0.5)
  state = state_with_moved_averages(cfg)
  _, metrics = on_one_device(
      lambda s: steps.generator_update(cfg, s, {}, NO_LABELS, None, KEY), state)
  fake, _ = cfg.generator.clone(axis_name=None).apply(
      state.generator_variables, step_latents(), NO_LABELS, train=True, mutable=['batch_stats'])
  expected = -float(jnp.mean(cfg.critic.apply({'params': state.critic_params}, fake).scores))
  matches = float(metrics['generator_adversarial']) == pytest.approx(expected, rel=1e-5)
  assert matches == (mode == 'eval')


@pytest.mark.fast
def test_unknown_step_mode_is_named():
  config = configs.telescope()
  config.train.critic_fakes = 'inference'
  with pytest.raises(ValueError, match='train.critic_fakes'):
    assembly.check_step_modes(config.train)
