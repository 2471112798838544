"""The source's CTGAN at reduced widths (experiments/ctgan_reduced.py) with two generator changes
and 1,500 iterations: realistic noise and brightness on a 2-core CPU (BENCHMARKS.md, 2026-11-28).

- `model.generator_pixel_noise`: the last 48x48 entries of z are a per-pixel noise map, added
  at the output resolution times a learned per-channel scale (StyleGAN's noise inputs). The
  night-sky background is independent from pixel to pixel; through the 64-d latent and the
  dense layer alone the generator cannot make it, and the critic's gap stayed at 11-18. With
  the map it falls to 3-5.
- `model.generator_output_features=16`: the last block keeps BatchNorm + LeakyReLU and a 3x3
  conv makes the image, so the last nonlinearity works at the output resolution (thin ellipses
  are a pixel wide).

At step 1,500 the brightness follows energy as in the data (size-energy correlation 0.48,
data 0.479) and the showers are compact and often elongated; their axis does not yet follow
the direction label (gamma median alpha ~40 deg, data 2.2, random ~45). 11.5 minutes on 2 CPU
cores.

  python -m jaxgan.main --config=experiments/ctgan_pixel_noise.py --workdir=runs/ctgan_pixel_noise
"""

import os

from jaxgan import configs


def get_config():
  config = configs.from_file(os.path.join(os.path.dirname(__file__), 'ctgan_reduced.py'))
  config.model.generator_pixel_noise = True
  config.model.latent_dim = 64 + 48 * 48  # the latent vector, then the noise map
  config.model.generator_output_features = 16
  config.train.num_steps = 1500
  config.train.sample_every = 250
  config.train.checkpoint_every = 500
  return config
