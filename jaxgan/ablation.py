"""Ablation sweeps: one base config, a list of overrides, several seeds, a table of final metrics.

A sweep file is a Python file whose `get_sweep()` returns the runs: a list of flat override
dicts, dotted config field -> value, e.g. `{'loss.name': 'hinge', 'loss.penalty': 'none',
'seed': 1}`. `product`, `zip_` and `with_seeds` build such lists (sweep files import them:
`from jaxgan import ablation`). Each run is the base config (`--config` with its command-line
overrides) with the run's overrides set on a copy (they win over the command line; an unknown
field or a value of the wrong type stops the sweep before any training, naming the entry and the
field), trained by `train.train_and_evaluate` in its own folder. `run_sweep_file` runs a sweep
file for `python -m jaxgan.ablate`.

Workdir layout:
  sweep.json              the runs of the sweep: name and overrides of each
  <run name>/             one training run (see jaxgan/train.py), named by `run_name`, e.g.
                          `loss.name=hinge,loss.penalty=none,seed=1`; its final metrics go to
    ablation_result.json  written (atomically) only once everything for the run is done
  predictor/              the auxiliary predictor, trained once and shared (below)
  judge/                  the evaluation's judge (`jaxgan.evaluation.judge`), trained once and
                          shared (below)
  results.csv             a row per setting (runs differing only by `seed`): the value of every
                          field the sweep varies, `seeds`, `failed`, `<metric>_mean`, `<metric>_std`
  results.md              the same numbers transposed: a row per metric, a column per setting
  plots/<metric>.png      per metric, a bar per setting: the mean, the standard deviation as an
                          error bar, each seed's value as a dot

Decisions:
- Resuming: a run is finished when its ablation_result.json exists for the run's current length
  (`train.num_steps`, `train.num_epochs`) and, unless it diverged, for the current `eval_num`
  with its latest checkpoint at the final step the result records. A re-launch skips finished
  runs and starts the others with `train.train_and_evaluate`, which resumes from their latest
  checkpoint: a stopped sweep goes on where it stopped, and a longer `--config.train.num_steps`
  continues every run. Another `--eval_num` evaluates telescope runs again (their training is
  done); `--judge_steps` acts only where a judge is trained (delete <workdir>/judge to retrain).
- A run folder whose config.json differs from the run's config in anything but
  `configs.CONTINUATION_FIELDS` (length, logging cadence, `predictor.checkpoint`) is refused,
  naming the fields: it belongs to another experiment (use another --workdir).
- Divergence: a run whose training stops on a non-finite loss (FloatingPointError) is a result
  too: recorded with its message, counted in `failed`, without metrics. Re-running it would
  diverge again (the runs are deterministic); delete its ablation_result.json to retry.
- Final metrics: telescope data: `telescope.evaluate_run(run, num=eval_num, judge_steps=...)` on
  the final checkpoint (its `metrics`; null where undefined); other data: the numeric fields of the
  metrics.jsonl rows at the last logged step (losses and sample measures).
- Sharing: runs that override no `data.` or `predictor.` field share one auxiliary predictor
  (`predictor.checkpoint` is set to <workdir>/predictor when empty and the conditioning uses one)
  and one judge (<run>/eval/judge becomes a relative link to <workdir>/judge). Both depend only
  on the data and the predictor config, so the numbers are those of separate training.
- Statistics: mean and standard deviation (ddof=1) over the seeds where the metric is defined
  (finite); std is empty for one seed, both are empty where no seed defines the metric. Plots
  are drawn for metrics that some setting defines.
- The table covers the runs of the current sweep file; folders of runs no longer in it stay.
"""

import collections
import csv
import dataclasses
import hashlib
import itertools
import json
import math
import os
import re
from typing import Any, Mapping, Sequence

import jax
import ml_collections
import numpy as np
from absl import logging
from matplotlib import figure
from matplotlib.backends import backend_agg

from jaxgan import assembly
from jaxgan import checkpoint
from jaxgan import configs
from jaxgan import logs
from jaxgan import train
from jaxgan.data import dataset as data_lib
from jaxgan.evaluation import judge as judge_lib
from jaxgan.evaluation import plots
from jaxgan.evaluation import telescope

Overrides = dict[str, Any]

SEED = 'seed'
SWEEP_FILE = 'sweep.json'
RESULT_FILE = 'ablation_result.json'
SHARED_PREDICTOR = 'predictor'  # under the sweep's workdir
SHARED_JUDGE = 'judge'  # under the sweep's workdir
LENGTH_FIELDS = ('train.num_steps', 'train.num_epochs')  # may change between launches
# A run overriding these trains its own predictor and judge.
UNSHARED_PREFIXES = ('data.', 'predictor.', 'eval.judge')
MAX_NAME = 200  # characters of a run name (file names may have 255 bytes); longer ones are hashed
_UNSAFE = re.compile(r'[^A-Za-z0-9._=,+-]')


def product(fields: Mapping[str, Sequence[Any]]) -> list[Overrides]:
  """Every combination of the fields' values, in order, the last field varying fastest.

  `product({'loss.name': ['hinge', 'minimax'], 'train.n_critic': [1, 5]})` gives hinge/1,
  hinge/5, minimax/1, minimax/5.
  """
  names = list(fields)
  return [dict(zip(names, values)) for values in itertools.product(*fields.values())]


def zip_(fields: Mapping[str, Sequence[Any]]) -> list[Overrides]:
  """The fields' values taken together: run i has the i-th value of every field.

  Raises:
    ValueError: when the fields have different numbers of values.
  """
  lengths = {name: len(values) for name, values in fields.items()}
  if len(set(lengths.values())) > 1:
    raise ValueError(f'zip_ needs as many values for every field; got {lengths}')
  names = list(fields)
  return [dict(zip(names, values)) for values in zip(*fields.values())]


def with_seeds(runs: Sequence[Overrides], seeds: Sequence[int]) -> list[Overrides]:
  """Every run once per seed (the seed varying fastest), set as the config's `seed` field."""
  return [{**run, SEED: seed} for run in runs for seed in seeds]


def _format_value(value: Any) -> str:
  if isinstance(value, (tuple, list)):
    return '-'.join(_format_value(item) for item in value)
  return str(value)


def run_name(overrides: Overrides) -> str:
  """A stable, readable, filesystem-safe name for a run (or a setting) from its overrides.

  `field=value` pairs joined by commas, fields sorted with `seed` last, sequence values joined by
  '-'; characters other than letters, digits and `._=,+-` become '_'; 'base' without overrides;
  a name over MAX_NAME characters is cut and ends in a hash of the whole name.
  """
  fields = sorted(overrides, key=lambda field: (field == SEED, field))
  name = ','.join(f'{field}={_format_value(overrides[field])}' for field in fields) or 'base'
  name = _UNSAFE.sub('_', name)
  if len(name) > MAX_NAME:
    name = f'{name[:MAX_NAME - 9]}-{hashlib.sha1(name.encode()).hexdigest()[:8]}'
  return name


def apply_overrides(config: ml_collections.ConfigDict, overrides: Overrides,
                    entry: int) -> ml_collections.ConfigDict:
  """A copy of `config` (lock, types and field references kept) with `overrides` set.

  Args:
    config: the base config; left untouched.
    overrides: dotted field -> value.
    entry: the index of the run in the sweep, for error messages.

  Raises:
    ValueError: naming the sweep entry and the field, for an unknown field or a value of the
      wrong type.
  """
  result = config
  for field, value in overrides.items():  # one at a time, to name the field that fails
    try:
      result = configs.with_overrides(result, {field: value})
    except (KeyError, TypeError, AttributeError, ValueError) as error:
      raise ValueError(f'sweep entry {entry} {overrides}: cannot set {field}={value!r}: '
                       f'{error}') from error
  return result


def load_sweep(path: str) -> list[Overrides]:
  """The runs that `get_sweep()` of the Python file at `path` returns.

  Raises:
    FileNotFoundError: no such file.
    ValueError: no `get_sweep`, or a result that is not a list of dicts with string keys.
  """
  runs = configs.call_file_function(path, 'get_sweep')
  if not isinstance(runs, list) or not all(
      isinstance(run, dict) and all(isinstance(field, str) for field in run) for run in runs):
    raise ValueError(f'{path}: get_sweep() must return a list of dicts (field -> value)')
  return runs


def _shares(overrides: Overrides) -> bool:
  return not any(field.startswith(UNSHARED_PREFIXES) for field in overrides)


@dataclasses.dataclass(frozen=True)
class Run:
  """One run of a sweep: its name, its overrides, its full config and its folder."""
  name: str
  overrides: Overrides
  config: ml_collections.ConfigDict
  workdir: str

  @property
  def shares(self) -> bool:
    """Whether the run uses the sweep's shared predictor and judge."""
    return _shares(self.overrides)

  @property
  def setting(self) -> Overrides:
    """The overrides but the seed: runs of one setting differ only by seed."""
    return {field: value for field, value in self.overrides.items() if field != SEED}


def _planned(config: ml_collections.ConfigDict, overrides: Overrides, entry: int,
             workdir: str) -> Run:
  """The run of sweep entry `entry`, its config checked as `train` would check it."""
  run_config = apply_overrides(config, overrides, entry)
  name = run_name(overrides)
  try:
    train.check_config(run_config, len(train.select_devices(run_config.train.num_devices)))
  except ValueError as error:
    raise ValueError(f'sweep entry {entry} ({name}): {error}') from error
  if (_shares(overrides) and not run_config.predictor.checkpoint
      and assembly.conditioning_of(run_config).uses_predictor):
    run_config.predictor.checkpoint = os.path.abspath(os.path.join(workdir, SHARED_PREDICTOR))
  return Run(name, dict(overrides), run_config, os.path.join(workdir, name))


def plan(config: ml_collections.ConfigDict, runs: Sequence[Overrides], workdir: str) -> list[Run]:
  """The sweep's runs, every config built and checked before anything is trained.

  Raises:
    ValueError: no runs, a bad override or config (naming the entry), or two runs with one
      name.
  """
  if not runs:
    raise ValueError('the sweep has no runs')
  planned = [_planned(config, overrides, entry, workdir) for entry, overrides in enumerate(runs)]
  counts = collections.Counter(run.name for run in planned)
  repeated = sorted(name for name, count in counts.items() if count > 1)
  if repeated:
    raise ValueError(f'the sweep lists these runs more than once: {repeated}')
  return planned


def _write_json(path: str, content: Any) -> None:
  """Writes `content` to `path` through a temporary file, so the file is never partial."""
  temporary = f'{path}.tmp'
  with open(temporary, 'w') as f:
    json.dump(content, f, indent=2, allow_nan=False)
  os.replace(temporary, path)


def check_same_experiment(run: Run) -> None:
  """Refuses a run folder holding a run of another config (see the module docstring)."""
  differing = train.saved_config_differences(run.config, run.workdir)
  if differing:
    raise ValueError(f'{run.workdir} holds a run of another configuration; use another '
                     f'--workdir, or delete that folder. Differing fields (saved -> this run):\n'
                     + configs.describe_differences(differing))


def _length(config: ml_collections.ConfigDict) -> dict[str, int]:
  return {field: config[field] for field in LENGTH_FIELDS}


def _telescope(run: Run) -> bool:
  return data_lib.get_dataset(run.config.data.name).camera is not None


def _evaluated_on(run: Run, eval_num: int | None) -> int | None:
  """What the result records of the evaluation size: `eval_num` for telescope data, else None."""
  return eval_num if _telescope(run) else None


def finished_result(run: Run, eval_num: int | None = None) -> dict | None:
  """The run's ablation_result.json if the run is finished (module docstring), else None."""
  path = os.path.join(run.workdir, RESULT_FILE)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    result = json.load(f)
  if result['length'] != _length(run.config):
    return None
  if result['failed'] is not None:
    return result
  if (result['eval_num'] != _evaluated_on(run, eval_num)
      or checkpoint.latest_saved_step(checkpoint.directory_of(run.workdir)) != result['step']):
    return None
  return result


def final_logged_metrics(workdir: str) -> dict[str, float]:
  """The numeric fields of the metrics.jsonl rows at the last logged step (later rows win)."""
  rows = logs.read_metrics(workdir)
  if not rows:
    return {}
  last = max(row['step'] for row in rows)
  metrics = {}
  for row in rows:
    if row['step'] == last:
      metrics.update({name: float(value) for name, value in row.items() if name != 'step'
                      and isinstance(value, (int, float)) and not isinstance(value, bool)})
  return metrics


def _share_judge(run: Run, sweep_workdir: str) -> None:
  """Makes <run>/eval/judge the sweep's judge: a relative link to <workdir>/judge when that
  exists; else, once the run has trained its own, that one moves there and is linked back."""
  shared = os.path.abspath(os.path.join(sweep_workdir, SHARED_JUDGE))
  local = os.path.join(run.workdir, judge_lib.EVAL_DIR, judge_lib.JUDGE_DIR)
  if not os.path.exists(shared) and os.path.isdir(local) and not os.path.islink(local):
    os.rename(local, shared)
  if os.path.isdir(shared) and not os.path.lexists(local):
    os.makedirs(os.path.dirname(local), exist_ok=True)
    os.symlink(os.path.relpath(shared, os.path.dirname(os.path.abspath(local))), local)


def _final_metrics(run: Run, sweep_workdir: str, eval_num: int | None,
                   judge_steps: int | None) -> dict[str, float | None]:
  """The run's final metrics (module docstring): evaluated for telescope data, else logged."""
  if not _telescope(run):
    return final_logged_metrics(run.workdir)
  if run.shares:
    _share_judge(run, sweep_workdir)
  metrics = telescope.evaluate_run(run.workdir, num=eval_num,
                                   judge_steps=judge_steps)['metrics']
  if run.shares:
    _share_judge(run, sweep_workdir)
  return metrics


def _defined(value: Any) -> float | None:
  return None if value is None or not math.isfinite(value) else value


def _record(run: Run, step: int | None, metrics: dict[str, Any], failed: str | None,
            eval_num: int | None) -> dict:
  """Writes and returns the run's ablation_result.json."""
  result = {'name': run.name, 'overrides': run.overrides, 'length': _length(run.config),
            'step': step, 'failed': failed, 'eval_num': _evaluated_on(run, eval_num),
            'metrics': {name: _defined(value) for name, value in metrics.items()}}
  os.makedirs(run.workdir, exist_ok=True)
  _write_json(os.path.join(run.workdir, RESULT_FILE), result)
  return result


def execute_run(run: Run, sweep_workdir: str, eval_num: int | None = None,
                judge_steps: int | None = None) -> dict:
  """Trains (or resumes) and evaluates one run; returns its result, also written to the run.

  The run's compiled code is released once it has trained (`jax.clear_caches()`): every live XLA CPU
  executable holds memory mappings, and a long sweep in one process would otherwise reach the
  kernel's cap, where XLA's compiler crashes (docs/design.md, "Running the tests in one
  process").
  """
  try:
    state = train.train_and_evaluate(run.config, run.workdir)
  except FloatingPointError as error:
    return _record(run, None, {}, str(error), eval_num)
  finally:
    jax.clear_caches()
  return _record(run, int(state.step), _final_metrics(run, sweep_workdir, eval_num, judge_steps),
                 None, eval_num)


def _run_or_skip(run: Run, index: int, total: int, sweep_workdir: str, eval_num: int | None,
                 judge_steps: int | None) -> dict:
  """The run's result: recorded if it is finished, else from training and evaluating it now."""
  check_same_experiment(run)
  result = finished_result(run, eval_num)
  if result is not None:
    logging.info('Run %d/%d %s: finished before, skipped', index, total, run.name)
    return result
  logging.info('Run %d/%d %s: started', index, total, run.name)
  result = execute_run(run, sweep_workdir, eval_num, judge_steps)
  outcome = f'diverged ({result["failed"]})' if result['failed'] else 'finished'
  logging.info('Run %d/%d %s: %s', index, total, run.name, outcome)
  return result


def mean_and_std(values: Sequence[float | None]) -> tuple[float, float]:
  """Mean and standard deviation (ddof=1) of the finite values; NaN where undefined."""
  defined = np.array([value for value in values if _defined(value) is not None], np.float64)
  mean = float(np.mean(defined)) if defined.size else math.nan
  std = float(np.std(defined, ddof=1)) if defined.size > 1 else math.nan
  return mean, std


def _grouped(planned: Sequence[Run], results: Sequence[dict]) -> dict[str, list[tuple[Run, dict]]]:
  """Setting name -> its runs and their results, in sweep order."""
  groups = collections.defaultdict(list)
  for run, result in zip(planned, results, strict=True):
    groups[run_name(run.setting)].append((run, result))
  return dict(groups)


def summarise(planned: Sequence[Run], results: Sequence[dict]) -> list[dict[str, Any]]:
  """The rows of results.csv: one per setting (see the module docstring); NaN where undefined."""
  fields = list(dict.fromkeys(field for run in planned for field in run.setting))
  metrics = list(dict.fromkeys(name for result in results for name in result['metrics']))
  rows = []
  for name, members in _grouped(planned, results).items():
    config = members[0][0].config
    row = {'setting': name, **{field: _format_value(config[field]) for field in fields},
           'seeds': len(members), 'failed': sum(result['failed'] is not None
                                                for _, result in members)}
    for metric in metrics:
      row[f'{metric}_mean'], row[f'{metric}_std'] = mean_and_std(
          [result['metrics'].get(metric) for _, result in members])
    rows.append(row)
  return rows


def _cell(value: Any) -> Any:
  return '' if isinstance(value, float) and math.isnan(value) else value


def write_csv(rows: Sequence[dict[str, Any]], path: str) -> None:
  """results.csv: a header line and a line per setting; undefined numbers empty."""
  with open(path, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows({key: _cell(value) for key, value in row.items()} for row in rows)


def _metric_names(rows: Sequence[dict[str, Any]]) -> list[str]:
  return [key[:-len('_mean')] for key in rows[0] if key.endswith('_mean')]


def _mean_std_text(mean: float, std: float) -> str:
  if math.isnan(mean):
    return ''
  return f'{mean:.4g}' if math.isnan(std) else f'{mean:.4g} ± {std:.2g}'


def markdown(rows: Sequence[dict[str, Any]], title: str) -> str:
  """results.md: a row per metric, a column per setting, 'mean ± std' cells."""
  lines = [f'# Ablation: {title}', '',
           'Mean ± standard deviation (ddof=1) over the seeds where the metric is defined; '
           'empty: undefined. `failed`: runs that diverged. Figures in plots/.', '',
           '| | ' + ' | '.join(row['setting'] for row in rows) + ' |',
           '| --- |' + ' --- |' * len(rows)]
  for key in ('seeds', 'failed'):
    lines.append(f'| {key} | ' + ' | '.join(str(row[key]) for row in rows) + ' |')
  for metric in _metric_names(rows):
    cells = [_mean_std_text(row[f'{metric}_mean'], row[f'{metric}_std']) for row in rows]
    lines.append(f'| {metric} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'


def _save_png(fig: figure.Figure, path: str) -> None:
  """Writes `fig` to `path` through a temporary file (as jaxgan.evaluation.plots does)."""
  backend_agg.FigureCanvasAgg(fig)
  fig.tight_layout()
  temporary = f'{path}.tmp'
  fig.savefig(temporary, format='png')
  os.replace(temporary, path)


def plot_metric(metric: str, names: Sequence[str], values: Sequence[Sequence[float | None]],
                path: str) -> None:
  """A bar per setting: the mean over seeds, a std error bar, each seed's value as a dot.

  Args:
    metric: the metric's name (the title and y label).
    names: the settings' names (the x ticks, one field per line).
    values: per setting, the seeds' values (None or NaN: undefined, not drawn).
    path: the PNG to write.
  """
  stats = np.array([mean_and_std(setting) for setting in values]).reshape(-1, 2)
  x = np.arange(len(names))
  fig = figure.Figure(figsize=(max(4.0, 1.3 * len(names) + 1.0), plots.PANEL_INCHES + 1.0),
                      dpi=plots.DPI)
  axes = fig.add_subplot()
  shown = ~np.isnan(stats[:, 0])
  axes.bar(x[shown], stats[shown, 0], color='tab:blue', alpha=0.5)
  spread = shown & ~np.isnan(stats[:, 1])
  axes.errorbar(x[spread], stats[spread, 0], yerr=stats[spread, 1], fmt='none', ecolor='black',
                capsize=4)
  for position, setting in zip(x, values):
    defined = [value for value in setting if _defined(value) is not None]
    axes.plot([position] * len(defined), defined, '.', color='black')
  axes.set_xticks(x, labels=[name.replace(',', '\n') for name in names], fontsize=7)
  axes.set_title(metric)
  axes.set_ylabel(metric)
  _save_png(fig, path)


def write_outputs(planned: Sequence[Run], results: Sequence[dict], workdir: str) -> list[dict]:
  """Writes results.csv, results.md and plots/<metric>.png; returns the table's rows."""
  rows = summarise(planned, results)
  write_csv(rows, os.path.join(workdir, 'results.csv'))
  with open(os.path.join(workdir, 'results.md'), 'w') as f:
    f.write(markdown(rows, workdir))
  os.makedirs(os.path.join(workdir, 'plots'), exist_ok=True)
  groups = list(_grouped(planned, results).values())
  for metric in _metric_names(rows):
    values = [[result['metrics'].get(metric) for _, result in members] for members in groups]
    if any(_defined(value) is not None for setting in values for value in setting):
      plot_metric(metric, [row['setting'] for row in rows], values,
                  os.path.join(workdir, 'plots', f'{_UNSAFE.sub("_", metric)}.png'))
  return rows


def execute(planned: Sequence[Run], workdir: str, *, eval_num: int | None = None,
            judge_steps: int | None = None) -> list[dict]:
  """Runs (or skips) every planned run, then writes the sweep's outputs; returns the table."""
  os.makedirs(workdir, exist_ok=True)
  _write_json(os.path.join(workdir, SWEEP_FILE),
              {'runs': [{'name': run.name, 'overrides': run.overrides} for run in planned]})
  results = [_run_or_skip(run, index, len(planned), workdir, eval_num, judge_steps)
             for index, run in enumerate(planned, 1)]
  return write_outputs(planned, results, workdir)


def run_sweep(config: ml_collections.ConfigDict, runs: Sequence[Overrides], workdir: str, *,
              eval_num: int | None = None, judge_steps: int | None = None) -> list[dict]:
  """Plans and executes a sweep (see the module docstring).

  Args:
    config: the base config (locked).
    runs: the sweep: one dict of dotted field -> value per run.
    workdir: the sweep's folder.
    eval_num: telescope data: images per evaluation (None: all validation examples).
    judge_steps: telescope data: the judge's training steps (None: predictor.num_steps).

  Returns:
    The rows of results.csv, one dict per setting (NaN where undefined).
  """
  return execute(plan(config, runs, workdir), workdir, eval_num=eval_num,
                 judge_steps=judge_steps)


def run_sweep_file(config: ml_collections.ConfigDict, sweep_file: str, workdir: str, *,
                   eval_num: int | None = None, judge_steps: int | None = None) -> list[dict]:
  """`run_sweep` of the runs that the sweep file's `get_sweep()` lists (`load_sweep`).

  Args:
    config: the base config (locked).
    sweep_file: a Python file whose `get_sweep()` returns the runs.
    workdir: the sweep's folder.
    eval_num: telescope data: images per evaluation (None: all validation examples).
    judge_steps: telescope data: the judge's training steps (None: predictor.num_steps).

  Returns:
    The rows of results.csv, one dict per setting (NaN where undefined).
  """
  return run_sweep(config, load_sweep(sweep_file), workdir, eval_num=eval_num,
                   judge_steps=judge_steps)
