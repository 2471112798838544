"""Which adversarial loss learns the toy telescope images best? (one of the source's open questions)

Six losses on the source's CTGAN at reduced widths (experiments/ctgan_source_small.py: WGAN-GP,
600 iterations of 5 critic updates, conditioning cgan+predictor), everything else unchanged, 2
seeds each: 12 runs, each a training plus its evaluation (about 2 hours on a 2-core CPU).

- minimax, non_saturating (Goodfellow et al. 2014) and least_squares (LSGAN, Mao et al. 2017)
  without a penalty (`loss.penalty='none'`): each in the form it was published and is usually
  trained in; with the gradient penalty the comparison would mix the loss with the regulariser
  (the spectral_norm and gp_interpolation sweeps vary the regulariser instead).
- WGAN-clip: wasserstein, no penalty, every critic weight clipped to [-0.01, 0.01] (Arjovsky et
  al. 2017).
- WGAN-GP: wasserstein with the gradient penalty, weight 10 (Gulrajani et al. 2017; the source's
  choice and the default).
- hinge without a penalty (Lim & Ye 2017), as the other non-Wasserstein losses.

The number of critic updates stays at the default 5 for all (one change at a time; the n_critic
sweep varies it).

  python -m jaxgan.ablate --config=experiments/ctgan_source_small.py \
      --sweep=experiments/ablations/losses.py --workdir=runs/ablate-losses

Read in results.md: frechet_distance_infinity, c2st_auc and hillas_w1_mean (realism), the
judge_*_generated against judge_*_simulated (labels followed), diversity_ratio_mean (collapse),
and `failed` (seeds that diverged).

Expected (docs/benchmarks.md, 2026-11-27, 2-core CPU): WGAN-GP best on realism,
frechet_distance_infinity 0.68 +- 0.44 and c2st_auc 0.891 +- 0.035 (the other losses 0.75-5.15
and 0.995-1.000).
"""

from jaxgan import ablation

SEEDS = (0, 1)


def get_sweep():
  losses = [
      {'loss.name': 'minimax', 'loss.penalty': 'none'},
      {'loss.name': 'non_saturating', 'loss.penalty': 'none'},
      {'loss.name': 'least_squares', 'loss.penalty': 'none'},
      {'loss.name': 'wasserstein', 'loss.penalty': 'none', 'loss.clip': 0.01},  # WGAN-clip
      {'loss.name': 'wasserstein', 'loss.penalty': 'gp'},  # WGAN-GP
      {'loss.name': 'hinge', 'loss.penalty': 'none'},
  ]
  return ablation.with_seeds(losses, SEEDS)
