"""The default run: the source's CTGAN recipe at reduced widths on the toy telescope, with two
module changes, so that on a 2-core CPU in minutes its samples follow their labels in
brightness and in orientation.

`configs.telescope(size='small')` (the source's WGAN-GP, n_critic 5, penalty weight 10,
predictor losses at weight 0.4, Adam betas (0.5, 0.9), batch 32, 600 iterations, conditioning
'cgan+predictor'), with:
- a generator that draws each shower in its own frame (`model.name='ctgan_frame'`,
  jaxgan/models/ctgan_frame.py): the source's dense layer and upsample blocks on a canvas
  anchored at the labelled source and turned to an azimuth drawn from z, then a camera stage
  with a per-pixel noise map. The source's generator at these widths cannot draw the data's
  thin, displaced, turned ellipses within 600 steps (`jaxgan.render_probe`);
- a critic that reads each image about its own light centroid, turned away from the labelled
  source (`model.critic_view='aligned'`, jaxgan/models/source_frame.py): a shower that points
  back to its source lies along the view's middle row whatever its position;
- samples from a weight average of the generator (`train.ema_decay=0.99`).
These settings are `configs.telescope_frame()`, whose 'hour' budget is experiments/ctgan_long.py.
experiments/ablations/critic_view.py compares these choices with the camera and polar views and
the source's generator.

  make train
  # or: python -m jaxgan.main --config=experiments/ctgan.py --workdir=runs/ctgan

Expected (docs/results.md, 2026-12-07, seeds 0-2, 2-core CPU): gamma median alpha 8.6-13.5 deg
at step 600 (data 2.2, random ~45), size-energy correlation 0.46-0.48 (data 0.48); `make train`
on a fresh clone about 6 minutes.
"""

from jaxgan import configs


def get_config():
  return configs.telescope_frame()
