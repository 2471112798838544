"""What the critic reads and how the generator draws: the default run's two module choices.

The default run (experiments/ctgan.py) draws each shower in its own frame (`model.name=
'ctgan_frame'`) and has its critic read each image about the light's centroid, turned away from
the labelled source (`model.critic_view='aligned'`). This sweep crosses the two choices: the
frame generator or the source's camera-pixel generator (`model.name='ctgan'`, a dense layer to
3x3x64 and blocks 64/32/16/1, the same per-pixel noise map and output layer), each with the
critic reading the camera image ('camera'), a polar grid about the labelled source ('polar') or
the aligned view ('aligned'), 3 seeds each: 18 runs of 600 iterations (about 3 hours on a
2-core CPU).

  python -m jaxgan.ablate --config=experiments/ctgan.py \
      --sweep=experiments/ablations/critic_view.py --workdir=runs/ablate-critic-view

Expected, from single runs of these settings (docs/benchmarks.md, 2026-12-06 and 2026-12-07, 2-core
CPU): gamma median alpha at step 600 of 9-14 deg for the frame generator with the aligned view,
21-45 deg with the camera or polar view, and 40-55 deg for the source's generator with any view
(data 2.2, random ~45; each run's probe, `generated_gamma_median_alpha_deg` in metrics.jsonl).
Read in results.md: response_gamma_alpha_vs_offset_chi2 (the axis against the direction label),
judge_direction_mae_generated against judge_direction_mae_simulated, frechet_distance_infinity
and c2st_auc.
"""

from jaxgan import ablation

SEEDS = (0, 1, 2)
FRAME = {'model.name': 'ctgan_frame'}  # the default's generator
SOURCE = {'model.name': 'ctgan', 'model.generator_base_shape': (3, 3, 64),
          'model.generator_features': (64, 32, 16, 1)}  # the source's, at the same widths
VIEWS = ('camera', 'polar', 'aligned')


def get_sweep():
  runs = [{**generator, 'model.critic_view': view} for generator in (FRAME, SOURCE)
          for view in VIEWS]
  return ablation.with_seeds(runs, SEEDS)
