"""The long recipe: the default run's networks (experiments/ctgan.py) trained for about 40 minutes
on a 2-core CPU, evaluating itself as it goes, so that a user sees what each extra minute buys.

`configs.telescope_frame('hour')`: 4,000 iterations at batch 32 instead of 600, and
`jaxgan.evaluate`'s measures every 400 iterations on 2,000 validation events (logged as eval_*
rows with their training seconds; at the end the curves are drawn in
<workdir>/eval/progress.png), with the checkpoint of every evaluated step kept.

  python -m jaxgan.main --config=experiments/ctgan_long.py --workdir=runs/ctgan_long
  python -m jaxgan.evaluate --workdir=runs/ctgan_long   # all 4,000 validation events

On a GPU the same file scales by its batch and step count, e.g.
  --config.train.batch_size=512 --config.train.num_steps=20000 --config.eval.every=2000 \
  --config.train.sample_every=2000 --config.train.checkpoint_every=2000

Expected (docs/results.md, "Fidelity", 2026-12-08): the best evaluations at iterations 800-1,200
(AUC 0.78, gamma alpha 10-12 deg), about the default run's; from 1,600 on, at Adam's constant
1e-3, the gammas' alpha (20-29 deg) and the Hillas distributions drift while FD_inf keeps
falling. Pick the checkpoint by the evaluations (`jaxgan.evaluate --step=S`); a decaying
learning rate is the next thing to try.
"""

from jaxgan import configs


def get_config():
  return configs.telescope_frame('hour')
