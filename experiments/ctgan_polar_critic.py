"""experiments/ctgan_pixel_noise.py with a critic that reads each image on a polar grid about its
labelled source (`model.critic_view='polar'`, jaxgan/models/source_frame.py), so that whether a
shower points back to its source is a local orientation the critic's convolutions can see (issue
2: through the camera view alone the generated showers' axes ignored the direction label).

Alone it does not move the axis: gamma median alpha 41.0 and 47.3 deg at steps 250 and 500 (data
2.2, random ~45); the generated streaks lie along the pixel rows and columns. With the frame
generator it does: experiments/ctgan_frame.py (BENCHMARKS.md, 2026-11-28, session 7).

  python -m jaxgan.main --config=experiments/ctgan_polar_critic.py --workdir=runs/ctgan_polar_critic
"""

import os

from jaxgan import configs


def get_config():
  config = configs.from_file(os.path.join(os.path.dirname(__file__), 'ctgan_pixel_noise.py'))
  config.model.critic_view = 'polar'
  config.model.camera_pixel_size = config.data.toy_iact.get_ref('pixel_size_deg')
  return config
