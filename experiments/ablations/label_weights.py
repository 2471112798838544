"""Were the predictor-loss weights too low? (the source suspected its 0.4 were)

The generator loss is the adversarial term plus the weighted losses of the frozen predictor on
the generated images (particle-type cross-entropy, energy and direction MSE). The three weights
(`loss.label_weights.{particletype,energy,direction}`) are set together to 0 (no label loss: the
generator sees its labels, nothing rewards following them), 0.4 (the source), 1, 2.5 and 6.25 (a
factor 2.5 apart), on the source's CTGAN at reduced widths (experiments/ctgan_source_small.py),
3 seeds each: 15 runs.

  python -m jaxgan.ablate --config=experiments/ctgan_source_small.py \
      --sweep=experiments/ablations/label_weights.py --workdir=runs/ablate-label-weights

Read in results.md: judge_accuracy / energy_mae / direction_mae of generated against simulated
images (the labels followed), the response_*_chi2 (label response curves), and
frechet_distance_infinity, c2st_auc (whether higher weights cost realism).
"""

from jaxgan import ablation

SEEDS = (0, 1, 2)
WEIGHTS = (0.0, 0.4, 1.0, 2.5, 6.25)


def get_sweep():
  return ablation.with_seeds(ablation.zip_({
      'loss.label_weights.particletype': WEIGHTS,
      'loss.label_weights.energy': WEIGHTS,
      'loss.label_weights.direction': WEIGHTS,
  }), SEEDS)
