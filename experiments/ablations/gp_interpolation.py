"""Does it matter how the gradient penalty draws its interpolation points?

WGAN-GP penalises the critic's gradient at xhat = eps fake + (1 - eps) real. The paper
(Gulrajani et al. 2017) draws eps ~ U(0, 1) (`uniform`, the default); the source's original
TensorFlow code drew eps ~ N(0, 1) (`normal`), which also puts points outside the segment
between the two images. Both on the source's CTGAN at reduced widths
(experiments/ctgan_source_small.py: wasserstein loss, penalty weight 10), 3 seeds each: 6 runs.

  python -m jaxgan.ablate --config=experiments/ctgan_source_small.py \
      --sweep=experiments/ablations/gp_interpolation.py --workdir=runs/ablate-gp-interpolation

Read in results.md: frechet_distance_infinity, c2st_auc, hillas_w1_mean, critic_wasserstein and
the seed spread of each.
"""

from jaxgan import ablation

SEEDS = (0, 1, 2)


def get_sweep():
  return ablation.with_seeds(ablation.product({'loss.gp_interpolation': ['uniform', 'normal']}),
                             SEEDS)
