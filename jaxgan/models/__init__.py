"""GAN architectures, one file each, looked up by `model.name`.

Each architecture file exposes `from_config(model_config, axis_name, dtype, label_dim, aux_dim,
label_columns) -> (generator, critic)`: `axis_name` is the pmap axis of cross-device BatchNorm
(None outside pmap), `dtype` the computation dtype (parameters, and the outputs, stay float32),
`label_dim` and `aux_dim` the sizes of the critic's label projection and auxiliary head (0: none;
see `jaxgan.conditioning`), `label_columns` the (start, stop) columns of each label in the label
vector (`jaxgan.labels.vector_columns`), for a network that reads one label (the ctgan models
read the source from `direction`). The generator takes any label-vector size.
"""

from typing import Any, Callable, Mapping

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.models import ctgan
from jaxgan.models import ctgan_frame
from jaxgan.models import dcgan
from jaxgan.models import mlp

# Fields that only the CTGAN model reads, with their off values: set for another
# architecture they would be silently ignored, so `build_gan` refuses them.
CTGAN_ONLY_FIELDS = {'generator_output_features': 0, 'generator_pixel_noise': False,
                     'generator_noise_head': 0, 'generator_output_bound': 0.0,
                     'critic_view': 'camera', 'init': 'lecun_normal', 'critic_block_dropout': (),
                     'critic_head_dropout': 0.0, **ctgan.GENERATOR_FIELDS}

ARCHITECTURES: dict[str, Callable[..., tuple[nn.Module, nn.Module]]] = {
    'ctgan': ctgan.from_config,
    'ctgan_frame': ctgan_frame.from_config,
    'dcgan': dcgan.from_config,
    'mlp': mlp.from_config,
}


def build_gan(model_config, axis_name: str | None = None, dtype: Any = jnp.float32,
              label_dim: int = 0, aux_dim: int = 0,
              label_columns: Mapping[str, tuple[int, int]] | None = None
              ) -> tuple[nn.Module, nn.Module]:
  """(generator, critic) for `model_config.name` (arguments: see the module docstring)."""
  if model_config.name not in ARCHITECTURES:
    raise ValueError(f'model.name={model_config.name!r} is unknown; '
                     f'choose one of {sorted(ARCHITECTURES)}')
  if model_config.name not in ('ctgan', 'ctgan_frame'):
    for field, off in CTGAN_ONLY_FIELDS.items():
      if model_config.get(field, off) != off:
        raise ValueError(f'model.{field}={model_config[field]!r} is read by the ctgan models only; '
                         f'model.name={model_config.name!r} needs it at {off!r}')
  return ARCHITECTURES[model_config.name](model_config, axis_name, dtype, label_dim, aux_dim,
                                          label_columns)
