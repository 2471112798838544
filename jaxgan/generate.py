"""Command line: generated telescope images for chosen labels, in the jaxgan HDF5 format.

  python -m jaxgan.generate --workdir=runs/ctgan --output=generated.h5 --labels=validation.h5
  python -m jaxgan.generate --workdir=runs/ctgan --output=gammas.h5 --num=1000000 \
      --particle=gamma --energy_min=0 --energy_max=1 [--batch_size=4096] [--seed=0] [--step=S]

The labels are either exactly those of a jaxgan HDF5 file (`--labels`) or `--num` draws, with
replacement, from the run's training labels, optionally only one particle type and log10(E / TeV)
in [energy_min, energy_max]; `jaxgan.generation.generate_from_run` writes the images (streamed,
with the generator's provenance: see `jaxgan/generation.py`). SIGTERM or Ctrl-C stops it with
status 128 + the signal (143, 130), the partial output removed.
"""

from absl import flags

from jaxgan import cli
from jaxgan import generation
from jaxgan import labels as labels_lib


def _define_flags() -> dict[str, flags.FlagHolder]:
  """The command line's flags (defined when run: `jaxgan.cli`)."""
  return {
      'workdir': flags.DEFINE_string('workdir', None, 'Directory of the training run.',
                                     required=True),
      'output': flags.DEFINE_string('output', None, 'HDF5 file to write.', required=True),
      'labels': flags.DEFINE_string('labels', None,
                                    'Generate for exactly the labels of this file.'),
      'num': flags.DEFINE_integer('num', None, 'Generate for this many draws of training labels.'),
      'particle': flags.DEFINE_enum('particle', None, list(labels_lib.PARTICLE_NAMES),
                                    '--num: draw only this particle type.'),
      'energy_min': flags.DEFINE_float('energy_min', None, '--num: lowest log10(E / TeV) drawn.'),
      'energy_max': flags.DEFINE_float('energy_max', None, '--num: highest log10(E / TeV) drawn.'),
      'batch_size': flags.DEFINE_integer('batch_size', generation.DEFAULT_BATCH_SIZE,
                                         'Images generated at once.'),
      'seed': flags.DEFINE_integer('seed', 0, 'Seed of the latent vectors and the label draws.'),
      'step': flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).'),
  }


def main(values: cli.FlagValues) -> None:
  """Writes the images the flags ask for; a bad request exits with its message, SIGTERM or
  Ctrl-C with 128 + the signal (143, 130), the partial output removed."""
  with generation.exit_on_signal(values['output']):
    stats = generation.generate_from_run(
        values['workdir'], values['output'], labels_file=values['labels'], num=values['num'],
        particle=values['particle'], energy_min=values['energy_min'],
        energy_max=values['energy_max'], batch_size=values['batch_size'], seed=values['seed'],
        step=values['step'])
  print(f'{stats["num_images"]} images from step {stats["step"]} written to {stats["output"]} '
        f'at {stats["images_per_second"]:.0f} images/s')


if __name__ == '__main__':
  cli.run(main, _define_flags)
