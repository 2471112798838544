"""The mode-collapse pilot: 2-D Gaussian mixtures, fully connected networks (`configs.points()`).

10,000 points from 25 Gaussians of standard deviation 0.05 on the grid {-4, -2, 0, 2, 4}^2
(VEEGAN, PacGAN), or with --config.data.name=gaussian_ring 8 Gaussians of standard deviation
0.02 on a circle of radius 2 (Metz et al. 2017); generator and critic are 3 hidden layers of 128
units (jaxgan/models/mlp.py), z of size 2; the non-saturating loss without penalty, Adam 1e-3
(0.5, 0.999), one critic update per generator update, 10,000 iterations at batch 256 (about a
minute on a 2-core CPU). Every sample step writes a scatter plot of generated over real points
and the standard measures: the fraction of high-quality samples (within 3 standard deviations of
a mode) and the number of modes covered. Any loss, penalty or conditioning ('acgan', 'cgan' with
the mode as label) can be compared here, e.g. --config.loss.name=wasserstein
--config.loss.penalty=gp --config.train.n_critic=5.

  python -m jaxgan.main --config=experiments/mixture2d.py --workdir=runs/mixture2d

Expected (docs/benchmarks.md, 2026-11-23, CPU): 21 of 25 modes covered, 62% high-quality samples at
step 10,000 (real data: 25, 98.9%).
"""

from jaxgan import configs


def get_config():
  return configs.points()
