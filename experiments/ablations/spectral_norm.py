"""Does spectral normalisation help, and can it replace the gradient penalty?

Spectral normalisation (Miyato et al. 2018) off, on the critic, or on both networks, each with
the gradient penalty (the WGAN-GP of experiments/ctgan_source_small.py) and without any penalty
(`loss.penalty='none'`), 3 seeds each: 18 runs. Without either, the Wasserstein critic is
unconstrained: the control, which may diverge (counted in `failed`).

  python -m jaxgan.ablate --config=experiments/ctgan_source_small.py \
      --sweep=experiments/ablations/spectral_norm.py --workdir=runs/ablate-spectral-norm

Read in results.md: frechet_distance_infinity, c2st_auc, hillas_w1_mean, diversity_ratio_mean,
and `failed`.
"""

from jaxgan import ablation

SEEDS = (0, 1, 2)


def get_sweep():
  return ablation.with_seeds(ablation.product({
      'model.spectral_norm': ['none', 'critic', 'both'],
      'loss.penalty': ['gp', 'none'],
  }), SEEDS)
