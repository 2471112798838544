"""The render probe (`jaxgan.render_probing`): its events are the simulator's, its latent vector
carries the drawn shower's geometry, its score has the closed form it claims, and it runs."""

import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxgan import render_probing
from jaxgan.data import toy_iact
from tests.helpers import tiny_config


def toy_config():
  return ml_collections.FrozenConfigDict(toy_iact.default_config())


def test_events_are_the_simulators_and_z_leads_with_the_image_displacement_azimuth():
  config, key, indices = toy_config(), jax.random.key(3), jnp.arange(400)
  z, labels, expected = render_probing.events(key, indices, config, latent_dim=40)
  _, simulated_labels = toy_iact.simulate_events(key, indices, config)
  for name, values in simulated_labels.items():
    np.testing.assert_array_equal(np.asarray(labels[name]), np.asarray(values), err_msg=name)
  assert z.shape == (400, 40)
  np.testing.assert_array_equal(z[:, render_probing.hidden_size(config):], 0.0)
  # Independently of the simulator's parameters: a gamma's light centroid lies from its source
  # along the impact azimuth, so z[:, :2] must be the unit vector from the source to the
  # centroid of the expected image (gammas whose light stays well inside the camera).
  coords = toy_iact.camera_coordinates(config)
  image = np.asarray(expected[..., 0])
  total = image.sum(axis=(1, 2))
  centroid = np.stack([(image.sum(axis=1) * coords).sum(-1),
                       (image.sum(axis=2) * coords).sum(-1)], -1) / total[:, None]
  offset = centroid - np.asarray(labels['direction'])
  distance = np.linalg.norm(offset, axis=-1)
  chosen = ((np.asarray(labels['particletype']) == toy_iact.GAMMA) & (distance > 0.3)
            & (np.linalg.norm(centroid, axis=-1) < 1.2))
  assert chosen.sum() >= 20
  cosine = np.sum(offset[chosen] / distance[chosen, None] * np.asarray(z[chosen, :2]), axis=-1)
  assert np.median(cosine) > 0.999 and cosine.min() > 0.98


def test_hidden_latents_refuse_a_latent_vector_too_small():
  with pytest.raises(ValueError, match='model.latent_dim=4 cannot hold'):
    render_probing.hidden_latents(jnp.full((2, 5), 0.5), jnp.zeros(2), latent_dim=4)


@pytest.mark.fast
def test_explained_variance_closed_forms():
  target = np.random.default_rng(0).normal(size=(5, 7, 7, 1))
  assert render_probing.explained_variance(target, target) == 1.0
  assert render_probing.explained_variance(np.zeros_like(target), target) == 0.0
  assert render_probing.explained_variance(0.5 * target, target) == pytest.approx(0.75)


def test_run_logs_the_drawings_and_the_noise_free_targets_point_at_their_sources(tmp_path):
  config = tiny_config()
  config.model.latent_dim = 32
  output = tmp_path / 'probe.json'
  rows = render_probing.run_to_file(config, num_steps=4, eval_every=2, output=str(output))
  assert json.loads(output.read_text())['rows'] == json.loads(json.dumps(rows))
  assert [row['step'] for row in rows] == [2, 4]
  assert all(np.isfinite(row['explained_variance']) and row['explained_variance'] <= 1.0
             for row in rows)
  # The targets are the simulator's noise-free gammas: thin, and pointing back to the source.
  assert rows[-1]['target_gamma_median_alpha_deg'] < 3.0
  assert rows[-1]['target_gamma_median_width_deg'] < rows[-1]['target_gamma_median_length_deg']


def test_run_needs_the_simulator():
  config = tiny_config()
  config.data.name = 'digits'
  with pytest.raises(ValueError, match="needs data.name='toy_iact'"):
    render_probing.run(config, num_steps=1, eval_every=1)
