"""Speed of training and generation, measured on whatever backend is present.

`benchmark` runs a plan of cases (`plan`), each in a fresh child process (`python -m
jaxgan.benchmark --case=...`, which calls `measure`), prints one line per case as it finishes
and, with `record`, writes the results as the newest entry of that Markdown file (the date, the
machine, the command, tables). A case that fails (out of memory, say) is reported as
such; the other cases still run.

What the figures mean:
- Training images per second: the global batch divided by the seconds of one iteration, which
  is one compiled call of the pmap-ed step (`steps.make_parallel_iteration`: n_critic critic
  updates and one generator update). An image is one real example through the whole iteration.
  The median of `--repeats` iterations after one warm-up, each timed to `block_until_ready`,
  on a synthetic batch already on the devices (N(0, 1) images, random labels), or with
  `data.online_simulation` on the toy simulator's events made in the step. The predictor of
  conditioning 'predictor' is freshly initialised, not trained: the same arithmetic.
  Compilation (`lower` + `compile`) is timed on its own.
- FLOPs per iteration: XLA's cost analysis of the step with its critic updates unrolled (the
  analysis counts a `lax.scan` body once, whatever its trip count), summed over devices.
  Achieved FLOP/s is that over the iteration's seconds. The utilisation is against a large
  matmul timed on the same machine in the same run. On NVIDIA GPUs of `DATASHEET_BF16_PEAK` it is
  also against the datasheet's dense bfloat16 peak.
- Memory: XLA's compiled memory analysis of the step per device (arguments + outputs +
  temporaries - donated aliases), and the allocator's peak where the backend reports one (GPU).
- Generation images per second: the generator alone (`train=False`, one device) at a large
  batch.

Plans: 'standard' measures the paper model (experiments/ctgan_paper.py) and the DCGAN
(experiments/dcgan.py) at several batch sizes, the DCGAN at image sizes 32, 64 and 128 (one
transposed-conv layer per doubling, the DCGAN pattern; the CTGAN critic is built for its
48-pixel canvas only), the paper model on 1, 2 and 4 devices (fake CPU devices, one per child
process's `--xla_force_host_platform_device_count`, or the first N real devices), and on
accelerators bfloat16 too. 'dcgan' measures the DCGAN cases of 'standard' only. 'quick' measures
the default run's small model (experiments/ctgan.py) in a minute or two. 'simulator' measures
the default run with its batches given and with them simulated in the step. 'bfloat16' measures
the paper model (at the smallest batch of 'standard'), the DCGAN (at its largest) and their
generators in float32 and in bfloat16, on CPU too ('standard' measures bfloat16 on accelerators
only).
"""

import dataclasses
import datetime
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import assembly
from jaxgan import configs
from jaxgan import steps
from jaxgan import train
from jaxgan.data import dataset as data_lib
from jaxgan.data import pipeline

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAPER = 'experiments/ctgan_paper.py'
# The paper model's cases time the GAN with jaxgan's predictor rather than with CTLearn's
# ThinResNet (7.9M weights) that the exact config trains, so that the figures stay comparable
# across commits and with peers that use a predictor of that size.
PAPER_PREDICTOR = {f'predictor.{field}': value
                   for field, value in configs.predictor_network('resnet').items()}
DCGAN = 'experiments/dcgan.py'
DEFAULT = 'experiments/ctgan.py'
KINDS = ('train', 'generate', 'matmul')
RESULT_PREFIX = 'BENCHMARK_RESULT '
ERROR_CHARS = 300  # of a failed child's last line, in the report

# Dense bfloat16 tensor-core peaks of the SXM parts, from NVIDIA's datasheets (FLOP/s), by a
# substring of `device_kind`.
DATASHEET_BF16_PEAK = {'H200': 989e12, 'H100': 989e12, 'A100': 312e12}


@dataclasses.dataclass(frozen=True)
class Case:
  """One measurement.

  Attributes:
    kind: 'train' (iterations of the experiment's training step), 'generate' (its generator
      alone) or 'matmul' (a (batch_size x batch_size) matmul, the machine's practical peak).
    experiment: config file, relative to the repository (not used by 'matmul').
    batch_size: global batch ('matmul': the matrices' side).
    num_devices: devices the step is pmap-ed over ('train' only).
    overrides: config fields set on top of the experiment ('matmul': {'dtype': ...}).
    varies: what the case's row shows in the plan ('batch', 'image size', 'devices', 'dtype').
  """
  kind: str
  experiment: str = ''
  batch_size: int = 1
  num_devices: int = 1
  overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
  varies: str = 'batch'

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self))

  @classmethod
  def from_json(cls, text: str) -> 'Case':
    fields = json.loads(text)
    # JSON has no tuples; config fields such as model.generator_features want them.
    fields['overrides'] = {name: tuple(value) if isinstance(value, list) else value
                           for name, value in fields['overrides'].items()}
    return cls(**fields)

  def describe(self) -> str:
    if self.kind == 'matmul':
      return f'matmul {self.batch_size}x{self.batch_size} {self.overrides.get("dtype")}'
    name = os.path.splitext(os.path.basename(self.experiment))[0]
    shown = ', '.join(f'{field}={value}' for field, value in self.overrides.items())
    return (f'{self.kind} {name} batch {self.batch_size} on {self.num_devices} device(s)'
            + (f' ({shown})' if shown else ''))


def dcgan_at(size: int) -> dict[str, Any]:
  """Overrides of experiments/dcgan.py for `size`-pixel images: one layer per doubling, widths
  doubling towards the low resolutions, as in the DCGAN (64 pixels: its own widths)."""
  doublings = int(np.log2(size // 4))  # generator layers after the first (4 pixels)
  generator = tuple(64 * 2 ** i for i in reversed(range(doublings))) + (3,)
  critic = tuple(64 * 2 ** i for i in range(doublings))
  return {'model.image_size': size, 'data.image_size': size,
          'model.generator_features': generator, 'model.critic_features': critic}


PLANS = ('standard', 'quick', 'dcgan', 'simulator', 'bfloat16', 'critic_conv')


def plan(name: str, backend: str, device_count: int) -> list[Case]:
  """The cases of plan `name` on `backend` with `device_count` devices (fake ones on CPU)."""
  if name == 'quick':
    return [Case('matmul', batch_size=1024, overrides={'dtype': 'float32'}),
            Case('train', DEFAULT, 16), Case('train', DEFAULT, 32, 2, varies='devices'),
            Case('generate', DEFAULT, 1024)]
  if name == 'simulator':  # the default run, its batches given or simulated in the step
    return [Case('matmul', batch_size=1024, overrides={'dtype': 'float32'}),
            Case('train', DEFAULT, 32, varies='data given'),
            Case('train', DEFAULT, 32, overrides={'data.online_simulation': True},
                 varies='data simulated')]
  if name == 'critic_conv':  # the critics' CPU convolutions: differentiated once and twice
    return [Case('matmul', batch_size=2048, overrides={'dtype': 'float32'})] + [
        Case('train', experiment, batch, overrides={'model.critic_conv_impl': impl},
             varies=f'critic {impl}')
        for experiment, batch in ((DCGAN, 128), (PAPER, 16)) for impl in ('im2col', 'im2col_phase')]
  if name not in PLANS:
    raise ValueError(f'--plan={name!r}; choose one of {PLANS}')
  if backend == 'cpu':
    batches, dcgan_batches, generation_batch, matmul = (16, 64), (32, 128), 1024, 2048
    counts = (1, 2, 4)
  else:
    batches, dcgan_batches = (128, 512, 2048), (128, 512, 2048)
    generation_batch, matmul = 16384, 8192
    counts = tuple(n for n in (1, 2, 4, 8, 16, 32) if n <= device_count)
  # bfloat16 on accelerators; on CPU only when asked (it is slower there: docs/benchmarks.md).
  dtypes = ('float32', 'bfloat16') if backend != 'cpu' or name == 'bfloat16' else ('float32',)
  cases = [Case('matmul', batch_size=matmul, overrides={'dtype': dtype}) for dtype in dtypes]
  experiments = (DCGAN,) if name == 'dcgan' else (PAPER, DCGAN)
  if name == 'bfloat16':
    cases += [Case('train', experiment, batch, overrides={'train.dtype': dtype}, varies='dtype')
              for experiment, batch in ((PAPER, batches[0]), (DCGAN, dcgan_batches[-1]))
              for dtype in dtypes]
  if name == 'standard':
    cases += [Case('train', PAPER, batch) for batch in batches]
    cases += [Case('train', PAPER, batches[-1], overrides={'train.dtype': dtype}, varies='dtype')
              for dtype in dtypes[1:]]
    cases += [Case('train', PAPER, batches[0] * n, n, varies='devices') for n in counts if n > 1]
  if name != 'bfloat16':
    cases += [Case('train', DCGAN, batch) for batch in dcgan_batches]
    cases += [Case('train', DCGAN, dcgan_batches[0], overrides=dcgan_at(size),
                   varies='image size') for size in (32, 128)]
  for experiment in experiments:
    cases += [Case('generate', experiment, generation_batch, overrides={'train.dtype': dtype},
                   varies='dtype') for dtype in dtypes]
  return cases


def case_config(case: Case) -> ml_collections.ConfigDict:
  """The experiment's config with the case's batch, device count and overrides; the paper model
  keeps jaxgan's predictor network (`PAPER_PREDICTOR`)."""
  path = case.experiment if os.path.isabs(case.experiment) else os.path.join(REPO,
                                                                             case.experiment)
  predictor = PAPER_PREDICTOR if case.experiment == PAPER else {}
  return configs.with_overrides(configs.from_file(path),
                                {**predictor, 'train.batch_size': case.batch_size,
                                 'train.num_devices': case.num_devices, **case.overrides})


def synthetic_batch(config: ml_collections.ConfigDict, num_devices: int, seed: int = 0) -> dict:
  """A global batch of N(0, 1) images and random labels of the dataset's kinds, split over
  `num_devices` as `pipeline.training_batch` splits it; with `data.online_simulation`, the
  numbers of the events that the step simulates, as training sends them."""
  rng = np.random.default_rng(seed)
  size = config.train.batch_size
  if config.data.online_simulation:
    return {'events': pipeline.simulated_events(config.data.num_examples, size, 0, num_devices)}
  labels = {}
  for label in data_lib.get_dataset(config.data.name).labels:
    if label.num_classes:
      labels[label.name] = rng.integers(0, label.num_classes, size).astype(np.int32)
    else:
      shape = (size,) if label.size == 1 else (size, label.size)
      labels[label.name] = rng.standard_normal(shape).astype(np.float32)
  images = rng.standard_normal((size, *assembly.generated_image_shape(config))).astype(np.float32)
  return {'images': pipeline.shard(images, num_devices),
          'labels': {name: pipeline.shard(values, num_devices) for name, values in labels.items()}}


def training_parts(config: ml_collections.ConfigDict) -> tuple[steps.StepConfig, Callable]:
  """`config`'s training step config, and a function of no arguments that returns its initial
  state and frozen predictor variables (a freshly initialised predictor where the conditioning
  has one): jit it, or `jax.eval_shape` it when shapes are enough."""
  shape = assembly.generated_image_shape(config)
  predictor = None
  if assembly.conditioning_of(config).uses_predictor:
    predictor = assembly.step_predictor(config)
  normalisation = pipeline.Normalisation(config.data.image_scale or 1.0, config.data.transform)
  step_config = assembly.build_step_config(config, predictor, normalisation)

  def initial():
    variables = {}
    if predictor is not None:
      variables = assembly.untrained_predictor_variables(config, shape)
    state = assembly.initial_state(config, shape, variables)
    return state, ({} if step_config.predictor_tx else variables)

  return step_config, initial


def iteration_flops(step_config: steps.StepConfig, devices: Sequence[jax.Device],
                    args: Sequence[Any]) -> float:
  """FLOPs of one iteration over all `devices`: XLA's cost analysis of the step with every critic
  update unrolled, per device, times the device count. Lowers only; compiles nothing."""
  unrolled = dataclasses.replace(step_config, critic_unroll=step_config.n_critic)
  lowered = steps.make_parallel_iteration(unrolled, list(devices)).lower(*args)
  return float(lowered.cost_analysis()['flops']) * len(devices)


def timed_calls(call, repeats: int) -> float:
  """Median seconds of `repeats` calls of `call()` (each blocked on its result) after one
  warm-up call."""
  seconds = []
  for _ in range(repeats + 1):
    start = time.perf_counter()
    jax.block_until_ready(call())
    seconds.append(time.perf_counter() - start)
  return statistics.median(seconds[1:])


def compiled_memory(compiled) -> int | None:
  """Bytes per device that XLA's memory analysis of `compiled` gives (None if unavailable)."""
  analysis = compiled.memory_analysis()
  if analysis is None:
    return None
  return (analysis.argument_size_in_bytes + analysis.output_size_in_bytes
          + analysis.temp_size_in_bytes - analysis.alias_size_in_bytes)


def allocator_peak(devices: Sequence[jax.Device]) -> int | None:
  """The largest `peak_bytes_in_use` of `devices` (None where the backend keeps no count)."""
  peaks = [(device.memory_stats() or {}).get('peak_bytes_in_use') for device in devices]
  return max(peaks) if all(peak is not None for peak in peaks) else None


def measure_training(case: Case, repeats: int) -> dict[str, Any]:
  """Compile time, seconds per iteration, images/s, FLOPs and memory of `case`'s training step."""
  config = case_config(case)
  devices = train.select_devices(case.num_devices)
  train.check_config(config, len(devices))
  step_config, initial = training_parts(config)
  state, predictor_variables = jax.jit(initial)()
  iteration = steps.make_parallel_iteration(step_config, devices)
  batch = steps.shard(synthetic_batch(config, len(devices)), devices)
  args = [steps.replicate(state, devices), batch, steps.replicate(predictor_variables, devices)]
  flops = iteration_flops(step_config, devices, args)
  start = time.perf_counter()
  compiled = iteration.lower(*args).compile()
  compile_seconds = time.perf_counter() - start

  def call():
    args[0], metrics = compiled(*args)  # the state is donated: carry the new one on
    return args[0], metrics

  seconds = timed_calls(call, repeats)
  return {'compile_seconds': compile_seconds, 'seconds_per_iteration': seconds,
          'images_per_second': case.batch_size / seconds, 'flops_per_iteration': flops,
          'flops_per_second': flops / seconds,
          'image_shape': list(assembly.generated_image_shape(config)),
          'memory_bytes_per_device': compiled_memory(compiled),
          'allocator_peak_bytes': allocator_peak(devices)}


def measure_generation(case: Case, repeats: int) -> dict[str, Any]:
  """Compile time, images/s and FLOPs of the generator alone (one device, `train=False`)."""
  config = case_config(case)
  generator, _ = assembly.build_networks(config)
  key_z, key_labels = jax.random.split(jax.random.key(0))
  z = jax.random.normal(key_z, (case.batch_size, config.model.latent_dim))
  labels = jax.random.normal(
      key_labels, (case.batch_size, assembly.conditioning_of(config).generator_label_dim))
  variables = jax.jit(functools.partial(generator.init, train=False))(
      jax.random.key(config.seed), z[:1], labels[:1])
  generate = jax.jit(lambda variables, z, labels: generator.apply(variables, z, labels,
                                                                  train=False))
  start = time.perf_counter()
  lowered = generate.lower(variables, z, labels)
  compiled = lowered.compile()
  compile_seconds = time.perf_counter() - start
  seconds = timed_calls(lambda: compiled(variables, z, labels), repeats)
  flops = float(lowered.cost_analysis()['flops'])
  return {'compile_seconds': compile_seconds, 'seconds_per_batch': seconds,
          'images_per_second': case.batch_size / seconds, 'flops_per_image':
          flops / case.batch_size, 'flops_per_second': flops / seconds,
          'image_shape': list(assembly.generated_image_shape(config)),
          'memory_bytes_per_device': compiled_memory(compiled),
          'allocator_peak_bytes': allocator_peak(jax.local_devices()[:1])}


def measure_matmul(case: Case, repeats: int) -> dict[str, Any]:
  """FLOP/s of a square matmul of side `case.batch_size` in `case.overrides['dtype']`."""
  size, dtype = case.batch_size, jnp.dtype(case.overrides.get('dtype', 'float32'))
  a, b = jax.random.normal(jax.random.key(0), (2, size, size), dtype)
  compiled = jax.jit(jnp.matmul).lower(a, b).compile()
  seconds = timed_calls(lambda: compiled(a, b), max(repeats, 5))
  return {'flops_per_second': 2 * size ** 3 / seconds, 'seconds': seconds}


def measure(case: Case, repeats: int) -> dict[str, Any]:
  """The measurement of `case`, with the device it ran on."""
  if case.kind not in KINDS:
    raise ValueError(f'case kind {case.kind!r}; choose one of {KINDS}')
  measurer = {'train': measure_training, 'generate': measure_generation,
              'matmul': measure_matmul}[case.kind]
  return {**measurer(case, repeats), 'device': jax.devices()[0].device_kind,
          'backend': jax.default_backend()}


def child_environment(case: Case, backend: str) -> dict[str, str]:
  """The environment of the child measuring `case`: on CPU, `case.num_devices` fake devices."""
  env = dict(os.environ)
  if backend == 'cpu':
    kept = [flag for flag in env.get('XLA_FLAGS', '').split()
            if not flag.startswith('--xla_force_host_platform_device_count')]
    env['XLA_FLAGS'] = ' '.join(
        kept + [f'--xla_force_host_platform_device_count={case.num_devices}'])
  return env


def run_case(case: Case, repeats: int, backend: str) -> dict[str, Any]:
  """`measure(case)` in a fresh process (its own devices, compile caches and memory peak);
  {'error': ...} when it fails."""
  command = [sys.executable, '-m', 'jaxgan.benchmark', f'--case={case.to_json()}',
             f'--repeats={repeats}']
  result = subprocess.run(command, env=child_environment(case, backend), cwd=REPO,
                          capture_output=True, text=True, check=False)
  for line in reversed(result.stdout.splitlines()):
    if line.startswith(RESULT_PREFIX):
      return json.loads(line[len(RESULT_PREFIX):])
  if result.returncode < 0:
    return {'error': f'killed by signal {-result.returncode}'}
  lines = (result.stderr or result.stdout).strip().splitlines()
  last = lines[-1] if lines else 'no output'
  return {'error': f'exit status {result.returncode}: '
                   f'{last if len(last) <= ERROR_CHARS else last[:ERROR_CHARS] + " ..."}'}


def datasheet_peak(device_kind: str) -> float | None:
  """The dense bfloat16 datasheet peak of `device_kind`, when known."""
  return next((peak for name, peak in DATASHEET_BF16_PEAK.items() if name in device_kind), None)


def _number(value: float | None, digits: int = 3) -> str:
  if value is None:
    return '-'
  return f'{value:.{digits}g}' if abs(value) < 10 ** digits else f'{value:,.0f}'


def _mib(value: int | None) -> str:
  return '-' if value is None else f'{value / 2 ** 20:,.0f}'


def _utilisation(flops_per_second: float, peak: float | None) -> str:
  return '-' if not peak else f'{100 * flops_per_second / peak:.0f}%'


def report(results: Sequence[tuple[Case, dict[str, Any]]], machine: str, command: str) -> str:
  """The Markdown entry of a run: heading, machine, command, then one table per kind."""
  peaks = {case.overrides.get('dtype'): result['flops_per_second']
           for case, result in results if case.kind == 'matmul' and 'error' not in result}
  device = next((result['device'] for _, result in results if 'device' in result), '')
  sheet = datasheet_peak(device)
  date = datetime.date.today().isoformat()
  lines = [f'## {date} — `jaxgan.benchmark` on {machine}', '',
           f'- Command: `{command}`',
           '- Matmul peaks measured in the same run: ' + (', '.join(
               f'{dtype} {value / 1e9:,.1f} GFLOP/s' for dtype, value in peaks.items()) or '-')]
  if sheet:
    lines.append(f'- Datasheet dense bfloat16 peak of the {device}: {sheet / 1e12:,.0f} TFLOP/s')
  failed = [(case, result) for case, result in results if 'error' in result]
  lines += [f'- Failed: {case.describe()}: {result["error"]}' for case, result in failed]
  measured = [(case, result) for case, result in results if 'error' not in result]
  lines += _table(TRAINING_COLUMNS, [
      _training_row(case, result, peaks.get(_dtype(case), peaks.get('float32')), sheet)
      for case, result in measured if case.kind == 'train'])
  lines += _table(GENERATION_COLUMNS, [_generation_row(case, result)
                                       for case, result in measured if case.kind == 'generate'])
  return '\n'.join(lines) + '\n'


TRAINING_COLUMNS = ('experiment', 'varies', 'image', 'batch', 'devices', 'dtype', 'compile (s)',
                    's / iteration', 'images/s', 'GFLOP / iteration', 'GFLOP/s',
                    'of matmul peak', 'of datasheet peak', 'memory / device (MiB)',
                    'allocator peak (MiB)')
GENERATION_COLUMNS = ('generator of', 'image', 'batch', 'dtype', 'compile (s)', 'images/s',
                      'GFLOP / image', 'GFLOP/s', 'memory (MiB)')


def _table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
  """A Markdown table, after a blank line; nothing when there are no rows."""
  if not rows:
    return []
  return ['', '| ' + ' | '.join(columns) + ' |', '| --- ' * len(columns) + '|'] + [
      '| ' + ' | '.join(row) + ' |' for row in rows]


def _training_row(case: Case, result: dict[str, Any], peak: float | None,
                  sheet: float | None) -> list[str]:
  flops_per_second = result['flops_per_second']
  return [_name(case), case.varies, _side(result), str(case.batch_size), str(case.num_devices),
          _dtype(case), f'{result["compile_seconds"]:.1f}',
          _number(result['seconds_per_iteration']), _number(result['images_per_second']),
          _number(result['flops_per_iteration'] / 1e9), _number(flops_per_second / 1e9),
          _utilisation(flops_per_second, peak), _utilisation(flops_per_second, sheet),
          _mib(result['memory_bytes_per_device']), _mib(result['allocator_peak_bytes'])]


def _generation_row(case: Case, result: dict[str, Any]) -> list[str]:
  return [_name(case), _side(result), str(case.batch_size), _dtype(case),
          f'{result["compile_seconds"]:.1f}', _number(result['images_per_second']),
          _number(result['flops_per_image'] / 1e9), _number(result['flops_per_second'] / 1e9),
          _mib(result['memory_bytes_per_device'])]


def _name(case: Case) -> str:
  return os.path.splitext(os.path.basename(case.experiment))[0]


def _side(result: dict[str, Any]) -> str:
  height, width, channels = result['image_shape']
  return f'{height}x{width}x{channels}'


def _dtype(case: Case) -> str:
  return case.overrides.get('train.dtype', 'float32')


def record(path: str, entry: str) -> None:
  """Writes `entry` into the Markdown file at `path` as its newest entry: before its first '## '
  heading (entries are newest first), or at its end if it has none."""
  text = open(path).read() if os.path.exists(path) else '# Benchmarks\n\n'
  position = text.find('\n## ')
  if position < 0:
    text = text.rstrip('\n') + '\n\n' + entry
  else:
    text = text[:position + 1] + entry + '\n' + text[position + 1:]
  with open(path, 'w') as f:
    f.write(text)


def machine_description() -> str:
  """Backend, device kind and count, and for CPU the host's cores."""
  device = jax.devices()[0]
  if device.platform == 'cpu':
    return f'CPU ({os.cpu_count()} cores, {platform.machine()}), jax {jax.__version__}'
  return f'{jax.device_count()} x {device.device_kind}, jax {jax.__version__}'


def run_plan(cases: Sequence[Case], repeats: int, backend: str) -> list[tuple[Case, dict]]:
  """Measures each case in its own process, printing a line as each one finishes."""
  results = []
  for index, case in enumerate(cases, 1):
    start = time.perf_counter()
    result = run_case(case, repeats, backend)
    results.append((case, result))
    summary = (result['error'] if 'error' in result else
               f'{result["flops_per_second"] / 1e9:,.1f} GFLOP/s' if case.kind == 'matmul' else
               f'{result["images_per_second"]:,.2f} images/s, compile '
               f'{result["compile_seconds"]:.0f} s')
    print(f'[{index}/{len(cases)}] {case.describe()}: {summary} '
          f'({time.perf_counter() - start:.0f} s)', flush=True)
  return results


def measured_line(case_json: str, repeats: int) -> str:
  """What a child process prints: `RESULT_PREFIX` and the JSON of `measure` of the case."""
  return RESULT_PREFIX + json.dumps(measure(Case.from_json(case_json), repeats))


def _machine_without_preallocation() -> tuple[str, int, str]:
  """The backend, device count and `machine_description`, read without reserving the devices'
  memory: the children measure, and JAX preallocates most of a GPU's memory by default."""
  preallocate = os.environ.get('XLA_PYTHON_CLIENT_PREALLOCATE')
  os.environ['XLA_PYTHON_CLIENT_PREALLOCATE'] = 'false'
  backend, count, machine = jax.default_backend(), jax.device_count(), machine_description()
  if preallocate is None:
    del os.environ['XLA_PYTHON_CLIENT_PREALLOCATE']
  else:
    os.environ['XLA_PYTHON_CLIENT_PREALLOCATE'] = preallocate
  return backend, count, machine


def benchmark(plan_name: str, repeats: int, record_path: str | None,
              command: str) -> list[tuple[Case, dict]]:
  """Measures the cases of plan `plan_name`, prints a line per case and the report.

  Args:
    plan_name: one of `PLANS`.
    repeats: timed calls per case (after one warm-up).
    record_path: a Markdown file to write the report into as its newest entry (None: none).
    command: the command line, for the report.

  Returns:
    Each case with its result ({'error': ...} where it failed).
  """
  backend, count, machine = _machine_without_preallocation()
  cases = plan(plan_name, backend, count)
  print(f'{len(cases)} cases on {machine}', flush=True)
  results = run_plan(cases, repeats, backend)
  entry = report(results, machine, command)
  print(entry)
  if record_path:
    record(record_path, entry)
  return results
