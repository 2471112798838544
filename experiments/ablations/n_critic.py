"""How many critic updates per generator update does the WGAN-GP need here?

`train.n_critic` = 1, 2, 5 (the source's, and experiments/ctgan_source_small.py's) and 10, at
the same number of generator updates (so a run's cost grows with n_critic), 3 seeds each: 12
runs.

  python -m jaxgan.ablate --config=experiments/ctgan_source_small.py \
      --sweep=experiments/ablations/n_critic.py --workdir=runs/ablate-n-critic

Read in results.md: frechet_distance_infinity, c2st_auc, hillas_w1_mean, critic_wasserstein, the
judge_*_generated against judge_*_simulated, and `failed`.
"""

from jaxgan import ablation

SEEDS = (0, 1, 2)


def get_sweep():
  return ablation.with_seeds(ablation.product({'train.n_critic': [1, 2, 5, 10]}), SEEDS)
