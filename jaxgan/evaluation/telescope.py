"""Telescope evaluation: generated against simulated validation images, now and during training.

`evaluate_run(workdir)` (`python -m jaxgan.evaluate`) evaluates a trained run. The generator (EMA
parameters when kept) makes one image for each of the first `num` validation labels (default:
all of them, the source's protocol), latents seeded by `seed` (`generation.generate_to_file`);
those images are compared with the simulated validation images of the same labels (`compare`,
with the judge of `jaxgan.evaluation.judge`, and `critic_wasserstein`). Files written in
<workdir>/eval/:

  generated.h5   the generated images and their labels (jaxgan HDF5, provenance included)
  metrics.json   `metrics` (every number of `METRICS`, null where undefined), `run` (what was
                 evaluated), `targets` (each fidelity target of `targets.TIERS`: its value and
                 whether it is met), `response_curves` and `diversity` (per-bin values behind
                 the plots)
  summary.md     a markdown table of the metrics, one line of meaning each
  histograms.png Hillas-parameter distributions, generated against simulated (`plots`)
  response.png   the response curves, generated against simulated (`plots`)
  judge/         the evaluation networks, trained once and reused (`judge.load_judge`)

Hillas parameters are computed after tailcut cleaning with the levels of `config.data.toy_iact`;
images left without light are counted (`light_fraction_*`) and left out of the Hillas measures.

During training (`eval.every`), `jaxgan.train` calls a `PeriodicEvaluation`: the same measures
on the run's live state, logged as `eval_<metric>` scalars, nothing else written.
"""

import functools
import json
import math
import os
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import ml_collections
import numpy as np
from absl import logging

from jaxgan import assembly
from jaxgan import camera as camera_lib
from jaxgan import checkpoint
from jaxgan import configs
from jaxgan import generation
from jaxgan import labels as labels_lib
from jaxgan import locks
from jaxgan import state as state_lib
from jaxgan.data import dataset as data_lib
from jaxgan.data import hdf5
from jaxgan.data import pipeline
from jaxgan.data.split import Split
from jaxgan.evaluation import hillas
from jaxgan.evaluation import judge as judge_lib
from jaxgan.evaluation import metrics as metrics_lib
from jaxgan.evaluation import plots
from jaxgan.evaluation import targets

PyTree = Any
Labels = dict[str, np.ndarray]

GENERATED_FILE = 'generated.h5'  # under judge_lib.EVAL_DIR
DEFAULT_BATCH_SIZE = 1024  # images generated at once (the timing is per image at this size)
MIN_IMAGES = metrics_lib.MIN_C2ST_SAMPLES  # fewest images the two-sample test accepts
HILLAS_NAMES = ('log10_size',) + hillas.HillasParameters._fields[1:]
RESPONSE_NAMES = tuple(plots.RESPONSE_AXES)
SIDES = ('generated', 'simulated')
PARTICLES = {name: labels_lib.PARTICLE_NAMES.index(name) for name in ('gamma', 'proton')}
HEADLINE = ('critic_wasserstein', 'frechet_distance_infinity', 'c2st_auc', 'hillas_w1_mean',
            'diversity_ratio_mean')  # logged at the end

METRICS = {  # every number of metrics.json['metrics'], with its meaning (summary.md)
    'critic_wasserstein': "the critic's Wasserstein-1 estimate: mean score on simulated minus on "
                          'generated images (0: the critic cannot tell; compare within a run)',
    'w_distance': "the source's sign of it: mean score on generated minus on simulated images",
    'log10_w_distance': 'log10 of its absolute value, as the source plotted it',
    'generation_ms_per_image': 'generation time per image in ms (device-synchronised, '
                               'compilation excluded, at the run batch size)',
    **{f'judge_{measure}_{side}': f'{meaning} of the evaluation networks on {side} images'
       for measure, meaning in (('accuracy', 'gamma/proton accuracy'),
                                ('energy_mae', 'log10(E / TeV) mean absolute error'),
                                ('direction_mae', 'direction mean absolute error (deg)'))
       for side in SIDES},
    'frechet_distance': 'Frechet distance of judge features, generated vs simulated (0: same '
                        'Gaussian; biased up at finite N)',
    'frechet_distance_infinity': 'the Frechet distance extrapolated to infinite N (FD_inf; ~0 '
                                 'when the distributions agree, may dip below 0 by noise)',
    'frechet_distance_infinity_error': 'standard error of FD_inf from its linear fit in 1 / N',
    'c2st_auc': 'classifier two-sample AUC on judge features (0.5: indistinguishable, 1: '
                'separable; far below 0.5 at small N also means separable)',
    **{f'light_fraction_{side}': f'fraction of {side} images with light after tailcut cleaning'
       for side in SIDES},
    **{f'hillas_w1_{name}': f'W1 of the {name} distributions over the simulated std (0: same; '
                            'a shift by d std gives d)' for name in HILLAS_NAMES},
    'hillas_w1_mean': 'mean of the hillas_w1_* over the parameters',
    **{f'response_{name}_chi2': f'{name} curve: mean squared pull (generated - simulated) / '
                                'combined error over the bins (~1: agree within errors)'
       for name in RESPONSE_NAMES},
    'diversity_ratio_mean': 'pixel variance within (particle, energy bin) cells, generated over '
                            'simulated, mean over cells (~1: faithful, ~0: mode collapse)',
    'diversity_ratio_min': 'the smallest per-cell diversity ratio (the most collapsed cell)',
    'diversity_ratio_max': 'the largest per-cell diversity ratio (the noisiest cell)',
    **{f'light_fraction_{particle}_{side}': f'fraction of the {particle} images ({side}) with '
                                            'light after tailcut cleaning'
       for particle in PARTICLES for side in SIDES},
    **{f'log10_size_gap_{particle}': f'largest |generated - simulated| mean log10 size of the '
                                     f'{particle}s over the energy bins'
       for particle in PARTICLES},
    **{f'gamma_alpha_median_{side}': f'median alpha (deg) of the {side} gammas with light'
       for side in SIDES},
    **{f'gamma_dist_median_{side}': f'median dist (deg): how far the light centroid of the {side} '
                                    'gammas with light lies from their source'
       for side in SIDES},
    'gamma_alpha_gap': 'largest |generated - simulated| gamma median alpha (deg) over the '
                       'source-offset bins',
}


class Comparison(NamedTuple):
  """`compare`'s result: the `METRICS` it computes, and the values behind the figures.

  Attributes:
    metrics: name -> value (NaN where undefined).
    hillas_params: side ('generated', 'simulated') -> Hillas parameters of its cleaned images.
    curves: side -> `metrics_lib.response_curves`.
    diversity: energy bin edges, and per side and their ratio the per-cell values.
  """
  metrics: dict[str, float]
  hillas_params: dict[str, hillas.HillasParameters]
  curves: dict[str, dict[str, metrics_lib.Curve]]
  diversity: dict[str, Any]


@functools.partial(jax.jit, static_argnums=1)
def _hillas_batch(images: jax.Array, camera: camera_lib.Camera) -> hillas.HillasParameters:
  return hillas.hillas_parameters(hillas.cleaned(images, camera.picture, camera.boundary),
                                  camera.pixel_size_deg)


def hillas_of(images: np.ndarray, camera: camera_lib.Camera,
              batch_size: int) -> hillas.HillasParameters:
  """Hillas parameters (numpy) of tailcut-cleaned images in photoelectrons."""
  return judge_lib.batched(lambda batch: _hillas_batch(batch, camera), batch_size, images)


def response_chi2(generated: metrics_lib.Curve, simulated: metrics_lib.Curve) -> float:
  """Mean over bins of ((generated - simulated) / combined standard error)^2; bins where either
  value or error is undefined are left out (NaN when none is left)."""
  with np.errstate(divide='ignore', invalid='ignore'):
    pulls = (generated.value - simulated.value) / np.hypot(generated.error, simulated.error)
  pulls = pulls[np.isfinite(pulls)]
  return float(np.mean(pulls ** 2)) if len(pulls) else math.nan


def _feature_metrics(generated: np.ndarray, simulated: np.ndarray, seed: int) -> dict[str, float]:
  infinity = metrics_lib.frechet_distance_infinity(generated, simulated, seed=seed)
  return {'frechet_distance': metrics_lib.frechet_distance(generated, simulated),
          'frechet_distance_infinity': infinity['intercept'],
          'frechet_distance_infinity_error': infinity['intercept_error'],
          'c2st_auc': metrics_lib.classifier_two_sample_auc(generated, simulated, seed=seed)}


def _hillas_metrics(params: dict[str, hillas.HillasParameters]) -> dict[str, float]:
  distances = metrics_lib.hillas_comparison(params['generated'], params['simulated'])
  return {**{f'light_fraction_{side}': float(np.mean(params[side].size > 0)) for side in SIDES},
          **{f'hillas_w1_{name}': value for name, value in distances.items()},
          'hillas_w1_mean': float(np.mean(list(distances.values())))}


def _diversity(images: dict[str, np.ndarray], labels: Labels,
               energy_bins: np.ndarray) -> tuple[dict[str, float], dict[str, Any]]:
  """The diversity metrics, and the per-cell values behind them."""
  cells = {side: metrics_lib.per_label_diversity(images[side], labels, energy_bins)
           for side in SIDES}
  ratio = metrics_lib.diversity_ratio(cells['generated'], cells['simulated'])
  defined = ratio[np.isfinite(ratio)]
  summary = {f'diversity_ratio_{name}': float(reduce(defined)) if len(defined) else math.nan
             for name, reduce in (('mean', np.mean), ('min', np.min), ('max', np.max))}
  details = {'energy_bins': energy_bins, 'ratio': ratio, 'count': cells['simulated'].count,
             **{f'{side}_variance': cells[side].variance for side in SIDES}}
  return summary, details


def _particle_metrics(params: dict[str, hillas.HillasParameters], labels: Labels,
                      bins: metrics_lib.ResponseBins,
                      curves: dict[str, dict[str, metrics_lib.Curve]]) -> dict[str, float]:
  """Light fraction and size response per particle type, and the gammas' alpha."""
  types = np.asarray(labels['particletype'])
  values = {f'light_fraction_{particle}_{side}':
                float(np.mean(np.asarray(params[side].size)[types == code] > 0))
            for particle, code in PARTICLES.items() for side in SIDES}
  for particle, code in PARTICLES.items():
    values[f'log10_size_gap_{particle}'] = metrics_lib.largest_gap(
        *(metrics_lib.size_vs_energy(params[side], labels, bins.energy, code) for side in SIDES))
  for side in SIDES:
    (values[f'gamma_alpha_median_{side}'],
     values[f'gamma_dist_median_{side}']) = metrics_lib.gamma_medians(params[side], labels)
  values['gamma_alpha_gap'] = metrics_lib.largest_gap(
      *(curves[side]['gamma_alpha_vs_offset'] for side in SIDES))
  return values


def compare(generated: np.ndarray, simulated: np.ndarray, labels: Labels, judge: judge_lib.Judge,
            camera: camera_lib.Camera, *, seed: int = 0) -> Comparison:
  """Every generator-independent measure of generated against simulated images.

  Args:
    generated, simulated: (N, H, W, C) images in photoelectrons, N >= MIN_IMAGES, image i of each
      for the labels of example i.
    labels: their labels (`particletype`, `energy`, `direction`).
    judge: the evaluation networks.
    camera: pixel size and tailcut levels.
    seed: seed of the FD_inf subsets and of the two-sample test.
  """
  if len(generated) != len(simulated) or len(simulated) < MIN_IMAGES:
    raise ValueError(f'{len(generated)} generated and {len(simulated)} simulated images: '
                     f'expected as many of each, at least {MIN_IMAGES}')
  images = {'generated': generated, 'simulated': simulated}
  features = {side: judge_lib.judge_features(judge, images[side]) for side in SIDES}
  params = {side: hillas_of(images[side], camera, judge.batch_size) for side in SIDES}
  bins = metrics_lib.response_bins(labels)
  curves = {side: metrics_lib.response_curves(params[side], labels, bins) for side in SIDES}
  diversity, diversity_details = _diversity(images, labels, bins.energy)
  values = {**judge_lib.judge_scores(judge, generated, labels, 'generated'),
            **judge_lib.judge_scores(judge, simulated, labels, 'simulated'),
            **_feature_metrics(features['generated'], features['simulated'], seed),
            **_hillas_metrics(params),
            **_particle_metrics(params, labels, bins, curves),
            **{f'response_{name}_chi2': response_chi2(curves['generated'][name],
                                                      curves['simulated'][name])
               for name in RESPONSE_NAMES},
            **diversity}
  return Comparison(values, params, curves, diversity_details)


def _critic(config: ml_collections.ConfigDict,
            state: state_lib.GANState) -> tuple[nn.Module, PyTree]:
  """The critic of the run and its variables in `state`."""
  _, critic = assembly.build_networks(config)
  return critic, {'params': state.critic_params, 'batch_stats': state.critic_batch_stats}


@functools.partial(jax.jit, static_argnums=0)
def _scores(critic: nn.Module, variables: PyTree, images: jax.Array,
            vector: jax.Array) -> jax.Array:
  return critic.apply(variables, images, vector if critic.label_dim else None,
                      train=False).scores


def critic_wasserstein(critic: nn.Module, variables: PyTree, generated: np.ndarray,
                       simulated: np.ndarray, labels: Labels,
                       normalisation: pipeline.Normalisation, batch_size: int) -> float:
  """Mean critic score on simulated minus on generated images (photoelectrons) of `labels`."""
  vector = np.asarray(labels_lib.label_vector(labels, labels_lib.TELESCOPE))

  def mean_score(images):
    return float(np.mean(judge_lib.batched(lambda x, v: _scores(critic, variables, x, v),
                                           batch_size, normalisation.forward(images), vector)))

  return mean_score(simulated) - mean_score(generated)


def _first(split: Split, num: int | None) -> Split:
  """The first `num` examples (None: all), images read into memory."""
  num = len(split) if num is None else num
  if not MIN_IMAGES <= num <= len(split):
    raise ValueError(f'num={num}: give {MIN_IMAGES} to {len(split)} (the validation examples)')
  chosen = split.take(np.arange(num))
  return Split(np.asarray(chosen.images), chosen.labels)


def _generate(simulated: Split, generator: checkpoint.TrainedGenerator, seed: int,
              batch_size: int) -> tuple[np.ndarray, dict[str, Any]]:
  """Generated images (photoelectrons) for the labels of `simulated`, and their provenance."""
  path = os.path.join(generator.workdir, judge_lib.EVAL_DIR, GENERATED_FILE)
  source = {'validation': f'first {len(simulated)} examples'}
  provenance = generation.generate_to_file(generator, path, simulated.labels,
                                           batch_size=batch_size, seed=seed, label_source=source)
  return hdf5.read(path).images, provenance


def _plain(value: Any) -> Any:
  """JSON-ready: arrays as lists, non-finite floats as None (null)."""
  if isinstance(value, dict):
    return {key: _plain(item) for key, item in value.items()}
  if isinstance(value, (list, tuple, np.ndarray)):
    return [_plain(item) for item in np.asarray(value).tolist()]
  if isinstance(value, float) and not math.isfinite(value):
    return None
  return value


def _number(value: float | None) -> str:
  """A metric in summary.md: 4 significant digits, empty when undefined (None)."""
  return '' if value is None else f'{value:.4g}'


def _target_lines(tier: str, outcomes: list[dict[str, Any]]) -> list[str]:
  """summary.md's table of one tier of fidelity targets (`targets.check`)."""
  met = sum(outcome['met'] for outcome in outcomes)
  return (['', f'Fidelity targets, {tier} tier ({met} of {len(outcomes)} met; '
           'jaxgan/evaluation/targets.py):', '', '| target | value | met |', '| --- | --- | --- |']
          + [f'| {outcome["text"]} | {_number(outcome["value"])} | '
             f'{"yes" if outcome["met"] else "no"} |' for outcome in outcomes])


def _summary(result: dict[str, Any]) -> str:
  """summary.md: what was evaluated, the metrics table, the figures."""
  run = result['run']
  lines = [f'# Evaluation of {run["workdir"]} at step {run["step"]}', '',
           f'{run["num_images"]} generated images (seed {run["seed"]}, EMA: {run["ema"]}) against '
           'the simulated validation images of the same labels. Empty: undefined.', '',
           '| metric | value | meaning |', '| --- | --- | --- |']
  for name, meaning in METRICS.items():
    lines.append(f'| {name} | {_number(result["metrics"][name])} | {meaning} |')
  for tier, outcomes in result['targets'].items():
    lines += _target_lines(tier, outcomes)
  lines += ['', '![Hillas distributions](histograms.png)', '', '![Response curves](response.png)',
            '']
  return '\n'.join(lines)


def _write(directory: str, result: dict[str, Any], comparison: Comparison) -> None:
  """metrics.json, summary.md and the two figures."""
  with open(os.path.join(directory, 'metrics.json'), 'w') as f:
    json.dump(result, f, indent=2, allow_nan=False)
  with open(os.path.join(directory, 'summary.md'), 'w') as f:
    f.write(_summary(result))
  params = comparison.hillas_params
  plots.histograms_png(params['generated'], params['simulated'],
                       os.path.join(directory, 'histograms.png'))
  plots.response_png(comparison.curves['generated'], comparison.curves['simulated'],
                     os.path.join(directory, 'response.png'))


def _result(workdir: str, values: dict[str, float], comparison: Comparison,
            provenance: dict[str, Any], judge: ml_collections.ConfigDict,
            judges: str) -> dict[str, Any]:
  """What metrics.json holds (JSON-ready); `judge` is `judge_lib.judge_config`, `judges` the
  run's `eval.judges`."""
  run = {name: provenance[name] for name in ('workdir', 'step', 'ema', 'seed', 'batch_size')}
  run.update(num_images=provenance['num_images'], generated=os.path.abspath(provenance['output']),
             judge=judge.checkpoint, judge_seed=judge.seed, judges=judges, judge_network=judge.name,
             feature_layer=judge_lib.FEATURE_LAYER)
  curves = {side: {name: curve._asdict() for name, curve in comparison.curves[side].items()}
            for side in SIDES}
  outcomes = {tier: [outcome._asdict() for outcome in targets.check(values, tier)]
              for tier in targets.TIERS}
  return _plain({'metrics': {name: values[name] for name in METRICS}, 'run': run,
                 'targets': outcomes, 'response_curves': curves,
                 'diversity': comparison.diversity})


def _measure(config: ml_collections.ConfigDict, state: state_lib.GANState,
             generator: checkpoint.TrainedGenerator, generated: np.ndarray, simulated: Split,
             judge: judge_lib.Judge, seed: int) -> tuple[dict[str, float], Comparison]:
  """`compare`'s metrics plus the critic's Wasserstein estimate, and the comparison."""
  comparison = compare(generated, simulated.images, simulated.labels, judge,
                       generator.camera, seed=seed)
  critic, variables = _critic(config, state)
  wasserstein = critic_wasserstein(critic, variables, generated, simulated.images,
                                   simulated.labels, generator.normalisation, judge.batch_size)
  with np.errstate(divide='ignore'):
    log10_distance = float(np.log10(np.abs(wasserstein)))
  return {**comparison.metrics, 'critic_wasserstein': wasserstein, 'w_distance': -wasserstein,
          'log10_w_distance': log10_distance}, comparison


def evaluate_run(workdir: str, *, num: int | None = None, step: int | None = None,
                 seed: int = 0, batch_size: int = DEFAULT_BATCH_SIZE,
                 judge_steps: int | None = None, judges: str | None = None,
                 judge_network: str | None = None) -> dict:
  """Evaluates the run in `workdir` and writes <workdir>/eval/ (see the module docstring).

  Args:
    workdir: the training run's directory (telescope data).
    num: images to generate, for the first `num` validation labels; None: all.
    step: the checkpoint to evaluate; None: the latest.
    seed: seed of the latents, the FD_inf subsets and the two-sample test.
    batch_size: images generated at once.
    judge_steps: training steps of the judge if none is saved; None: config.predictor.num_steps.
    judges, judge_network: `eval.judges` and `eval.judge_network` of this evaluation; None: the
      run's. A judge saved in <workdir>/eval/judge by other settings may be refused: delete it.

  Returns:
    The contents of metrics.json.

  Raises:
    FileNotFoundError: `workdir` does not exist (nothing is created).
    locks.Busy: another evaluation is writing <workdir>/eval/.
  """
  checkpoint.check_run_directory(workdir)
  for name, value in (('batch_size', batch_size), ('judge_steps', judge_steps)):
    if value is not None and value < 1:
      raise ValueError(f'{name}={value} must lie in [1, inf)')
  os.makedirs(os.path.join(workdir, judge_lib.EVAL_DIR), exist_ok=True)
  judge_fields = {f'eval.{name}': value for name, value in (('judges', judges),
                                                             ('judge_network', judge_network))
                  if value is not None}
  with locks.held(os.path.join(workdir, judge_lib.EVAL_DIR), 'an evaluation'):
    return _evaluate_run(workdir, num, step, seed, batch_size, judge_steps, judge_fields)


def _evaluate_run(workdir: str, num: int | None, step: int | None, seed: int, batch_size: int,
                  judge_steps: int | None, judge_fields: dict[str, str]) -> dict:
  """`evaluate_run` once <workdir>/eval/ is held; `judge_fields` override the run's config."""
  config, state, step = checkpoint.restore_state(workdir, step)
  config = configs.with_overrides(config, judge_fields)
  generator = checkpoint.trained_generator(workdir, config, state, step)
  logging.info('Evaluating %s at step %d', workdir, generator.step)
  data = assembly.RunData(*data_lib.load_splits(config.data), generator.normalisation)
  simulated = _first(data.validation, num)
  judge = judge_lib.load_judge(config, workdir, data, judge_steps)
  generated, provenance = _generate(simulated, generator, seed, batch_size)
  logging.info('Comparing %d generated with simulated images', len(simulated))
  values, comparison = _measure(config, state, generator, generated, simulated, judge, seed)
  values['generation_ms_per_image'] = 1e3 / provenance['images_per_second']
  result = _result(workdir, values, comparison, provenance,
                   judge_lib.judge_config(config, workdir), config.eval.judges)
  _write(os.path.join(workdir, judge_lib.EVAL_DIR), result, comparison)
  logging.info('Wrote %s: %s', os.path.join(workdir, judge_lib.EVAL_DIR),
               {name: result['metrics'][name] for name in HEADLINE})
  return result


class PeriodicEvaluation:
  """The evaluation during training (`eval.every`), as `eval_<metric>` scalars for the metric log.

  The measures of `evaluate_run` (all of `METRICS` but the generation time) on the first `eval.num`
  validation examples, with latents seeded by `eval.seed`, generated in memory with the state's
  sampling variables (EMA when kept); nothing is written but the judge. Built once per run: the
  judge is loaded from <workdir>/eval/judge or trained and saved there (where `evaluate_run`
  finds it again), and the validation images are read once. Undefined metrics (NaN) are left out.
  """

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, data: assembly.RunData):
    self._config, self._workdir = config, workdir
    self._simulated = _first(data.validation, config.eval.num)
    self._judge = judge_lib.load_judge(config, workdir, data)

  def __call__(self, state: state_lib.GANState, step: int) -> dict[str, float]:
    """The metrics of `state`, the run's state (host arrays) at `step`."""
    generator = checkpoint.trained_generator(self._workdir, self._config, state, step)
    seed = self._config.eval.seed
    generated, _ = generation.generate_images(generator, self._simulated.labels,
                                              batch_size=self._judge.batch_size, seed=seed)
    values, _ = _measure(self._config, state, generator, generated, self._simulated,
                         self._judge, seed)
    return {f'eval_{name}': float(value) for name, value in values.items()
            if math.isfinite(value)}
