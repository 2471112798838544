"""Shapes and structural properties of the CTGAN generator and critic."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxgan import conditioning as conditioning_lib
from jaxgan import labels as labels_lib
from jaxgan.models import ctgan

TINY = dict(base_shape=(3, 3, 8), block_features=(8, 4, 4, 1))


@pytest.mark.parametrize('upsample', ['nearest', 'transposed'])
@pytest.mark.parametrize('train', [True, False])
def test_generator_shapes(upsample, train):
  generator = ctgan.Generator(**TINY, upsample=upsample)
  z, labels = jnp.ones((3, 16)), jnp.ones((3, labels_lib.LABEL_DIM))
  variables = generator.init(jax.random.key(0), z, labels, train=False)
  out = generator.apply(variables, z, labels, train=train, mutable=['batch_stats'])[0]
  assert out.shape == (3, 43, 43, 1) and out.dtype == jnp.float32


@pytest.mark.fast
def test_paper_generator_widths():
  generator = ctgan.Generator()
  variables = jax.eval_shape(lambda: generator.init(
      jax.random.key(0), jnp.ones((1, 512)), jnp.ones((1, labels_lib.LABEL_DIM)), train=False))
  assert variables['params']['Dense_0']['kernel'].shape == (512 + labels_lib.LABEL_DIM, 4608)


@pytest.mark.parametrize('features', [(4, 8), (128, 256, 512, 1024)])
def test_critic_shapes(features):
  critic = ctgan.Critic(block_features=features)
  images = jnp.ones((2, 43, 43, 1))
  params = jax.eval_shape(critic.init, jax.random.key(0), images)
  output = jax.eval_shape(critic.apply, params, images)
  assert output.scores.shape == (2,)
  assert output.aux is None


def test_conditional_critic_shapes():
  critic = ctgan.Critic(block_features=(4, 8), label_dim=labels_lib.LABEL_DIM, aux_dim=7)
  images, labels = jnp.ones((2, 43, 43, 1)), jnp.ones((2, labels_lib.LABEL_DIM))
  params = jax.eval_shape(critic.init, jax.random.key(0), images, labels)
  output = jax.eval_shape(critic.apply, params, images, labels)
  assert output.scores.shape == (2,) and output.aux.shape == (2, 7)


def test_projection_score_is_affine_in_the_labels():
  """w.h + b + (V y).h: mixing two label vectors mixes the scores with the same weights."""
  critic = ctgan.Critic(block_features=(4, 8), label_dim=3)
  images = jax.random.normal(jax.random.key(0), (2, 43, 43, 1))
  y1, y2 = jax.random.normal(jax.random.key(1), (2, 2, 3))
  params = critic.init(jax.random.key(2), images, y1)
  score = lambda y: np.asarray(critic.apply(params, images, y).scores, np.float64)
  np.testing.assert_allclose(score(0.3 * y1 + 0.7 * y2), 0.3 * score(y1) + 0.7 * score(y2),
                             rtol=1e-5, atol=1e-5)
  assert not np.allclose(score(y1), score(y2))  # the labels matter
  with pytest.raises(ValueError, match='projection critic needs'):
    critic.apply(params, images)


def test_critic_scores_examples_independently():
  """The gradient penalty needs per-example scores: changing one image leaves the others."""
  critic = ctgan.Critic(block_features=(4, 8))
  images = jax.random.normal(jax.random.key(0), (3, 43, 43, 1))
  params = critic.init(jax.random.key(1), images)
  before = np.asarray(critic.apply(params, images).scores)
  after = np.asarray(critic.apply(params, images.at[1].multiply(3.0)).scores)
  np.testing.assert_array_equal(before[[0, 2]], after[[0, 2]])
  assert before[1] != after[1]


def test_crop_inverts_pad():
  images = jax.random.normal(jax.random.key(0), (2, 43, 43, 1))
  padded = ctgan.pad_center(images, 48)
  assert padded.shape == (2, 48, 48, 1)
  np.testing.assert_array_equal(ctgan.crop_center(padded, 43), images)
  assert float(jnp.abs(padded).sum()) == pytest.approx(float(jnp.abs(images).sum()), rel=1e-5)


def test_pixel_noise_adds_each_map_entry_to_its_own_pixel_times_the_learned_scale():
  generator = ctgan.Generator(base_shape=(3, 3, 4), block_features=(4, 4, 4, 1), pixel_noise=True)
  z = jax.random.normal(jax.random.key(0), (1, 8 + 48 * 48))
  labels = jnp.zeros((1, 5))
  variables = generator.init(jax.random.key(1), z, labels, train=False)
  image = generator.apply(variables, z, labels, train=False)
  row, col = 30, 12  # canvas pixel; the 43x43 image starts at canvas pixel (2, 2)
  nudged = z.at[0, 8 + row * 48 + col].add(1.5)
  # The scale starts at 0: the map changes nothing.
  np.testing.assert_array_equal(generator.apply(variables, nudged, labels, train=False), image)
  params = {**variables['params'], 'noise_scale': jnp.array([0.4])}
  variables = {**variables, 'params': params}
  difference = np.asarray(generator.apply(variables, nudged, labels, train=False)
                          - generator.apply(variables, z, labels, train=False))[0, ..., 0]
  expected = np.zeros((43, 43))
  expected[row - 2, col - 2] = 0.4 * 1.5
  np.testing.assert_allclose(difference, expected, atol=1e-5)


def test_pixel_noise_needs_a_latent_longer_than_the_map():
  generator = ctgan.Generator(base_shape=(3, 3, 4), block_features=(4, 4, 4, 1), pixel_noise=True)
  with pytest.raises(ValueError, match='latent_dim > 2304'):
    generator.init(jax.random.key(1), jnp.zeros((1, 2304)), jnp.zeros((1, 5)), train=False)


def test_output_features_put_a_nonlinear_layer_at_the_output_resolution():
  generator = ctgan.Generator(base_shape=(3, 3, 4), block_features=(4, 4, 4, 1),
                              output_features=6)
  z, labels = jnp.ones((2, 8)), jnp.zeros((2, 5))
  variables = generator.init(jax.random.key(1), z, labels, train=False)
  assert generator.apply(variables, z, labels, train=False).shape == (2, 43, 43, 1)
  kernels = [leaf.shape for path, leaf in jax.tree_util.tree_leaves_with_path(variables['params'])
             if 'kernel' in jax.tree_util.keystr(path) and leaf.ndim == 4]
  assert kernels[-2:] == [(3, 3, 4, 6), (3, 3, 6, 1)]  # 48x48: 4 -> 6 channels, then the image
  assert variables['batch_stats']['BatchNorm_3']['mean'].shape == (6,)  # normalised, nonlinear


@pytest.mark.parametrize('conditioning, columns', [
    ('cgan', {'mode': (0, 3), 'direction': (3, 5), 'energy': (5, 6)}),
    ('none', {}),
    ('infogan', {'code': (0, 4)})])
def test_conditioning_gives_each_label_its_columns(conditioning, columns):
  """The columns the networks are told: those of the vector the generator (and a 'cgan' critic)
  is conditioned on, counted by hand: a one-hot of 3, a 2-vector, a scalar."""
  spec = (labels_lib.Label('mode', num_classes=3), labels_lib.Label('direction', size=2),
          labels_lib.Label('energy'))
  model = ml_collections.ConfigDict({'conditioning': conditioning, 'info_categorical': 4,
                                     'info_continuous': 0})
  assert conditioning_lib.Conditioning.from_config(model, spec).label_columns == columns
