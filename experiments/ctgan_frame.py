"""experiments/ctgan_polar_critic.py with the generator that draws each shower in its own frame
(`model.name='ctgan_frame'`, jaxgan/models/ctgan_frame.py): a canvas anchored at the labelled
source, turned to an azimuth drawn from z, then the camera stage with the per-pixel noise map.
Issue 2's run: whether the generated showers point back to their labelled source.

Gamma median alpha 26.4, 21.1, 27.3, 32.0, 19.7, 19.5 deg at steps 250-1,500 (data 2.2, random
~45), size-energy correlation 0.46 at step 1,500 (data 0.48); 29.5 minutes on 2 CPU cores
(BENCHMARKS.md, 2026-11-28, session 7, with `jaxgan.evaluate`'s figures).

  python -m jaxgan.main --config=experiments/ctgan_frame.py --workdir=runs/ctgan_frame
"""

import os

from jaxgan import configs


def get_config():
  config = configs.from_file(os.path.join(os.path.dirname(__file__), 'ctgan_polar_critic.py'))
  config.model.name = 'ctgan_frame'
  config.model.generator_base_shape = (3, 6, 64)  # frame canvas 24 x 48 after three blocks
  config.model.generator_features = (64, 32, 16)
  return config
