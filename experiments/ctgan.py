"""The default run: the source's CTGAN recipe on a 2-core CPU in minutes, whose samples follow
their labels in brightness and in orientation.

experiments/ctgan_reduced.py (the source's model at reduced widths: the same WGAN-GP, n_critic 5,
penalty weight 10, predictor losses at weight 0.4, Adam betas (0.5, 0.9), batch 32, 600
iterations, conditioning 'cgan+predictor') with two module changes, both measured (README, "The
default run"; BENCHMARKS.md, 2026-12-07, session 13):
- the generator draws each shower in its own frame (`model.name='ctgan_frame'`,
  jaxgan/models/ctgan_frame.py): the source's dense layer and upsample blocks, on a canvas
  anchored at the labelled source and turned to an azimuth drawn from z, then a camera stage
  with a per-pixel noise map. The source's generator at these widths cannot draw the data's
  thin, displaced, turned ellipses within 600 steps even when told every hidden variable
  (`jaxgan.render_probe`: 22% of the gammas' variance; this one: 92%);
- the critic reads each image about its own light centroid, turned away from the labelled
  source (`model.critic_view='aligned'`, jaxgan/models/source_frame.py): a shower that points
  back to its source lies along the view's middle row whatever its position, so the source's
  critic checks one orientation at one place. With the camera or the polar view the same
  generator reached gamma median alpha 21-45 deg in 600 iterations; with this one 8-24 deg over
  steps 300-600 of three seeds (data 2.2, random ~45);
- samples (the grids, the probe, `jaxgan.generate`) come from a weight average of the generator
  (`train.ema_decay=0.99`): over steps 400-600 of the same seeds, alpha 8.5-13.5 deg instead of
  9.6-23.7, at the price of dimmer images (66-86% of the gammas survive the cleaning at step 600,
  the data's 90%).

  make train
  # or: python -m jaxgan.main --config=experiments/ctgan.py --workdir=runs/ctgan
"""

import os

from jaxgan import configs


def get_config():
  config = configs.from_file(os.path.join(os.path.dirname(__file__), 'ctgan_reduced.py'))
  config.model.name = 'ctgan_frame'
  config.model.generator_base_shape = (3, 6, 64)  # frame canvas 24 x 48 after three blocks
  config.model.generator_features = (64, 32, 16)
  config.model.generator_output_features = 16  # the camera stage's width
  config.model.generator_pixel_noise = True
  config.model.latent_dim = 64 + 48 * 48  # the azimuth and latent vector, then the noise map
  config.model.critic_view = 'aligned'
  config.model.camera_pixel_size = config.data.toy_iact.get_ref('pixel_size_deg')
  config.train.ema_decay = 0.99
  return config
