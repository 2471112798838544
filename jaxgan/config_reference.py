"""docs/config.md: every config field, what it means, and its value in each family base.

  python -m jaxgan.config_reference > docs/config.md

A field's meaning is the comment written where `jaxgan.configs` builds it: on its line (or the
lines of its statement), or the comment lines just above it when its line has none. A comment
block above a field that has its own comment heads a group of fields. The builders are read with
`ast` and `tokenize`, starting from each family function and following the calls that build
sub-configs (`_common`, the simulator's `toy_iact.default_config`, the built-in pictures'
`images.default_config`, `configs.predictor`), so the reference is the code's own comments.
tests/test_config_reference.py fails when docs/config.md is stale or a field has no comment.
"""

import ast
import dataclasses
import functools
import inspect
import io
import sys
import textwrap
import tokenize
from typing import Any, Callable

import ml_collections

from jaxgan import configs

# The columns of the reference: family base -> its builder.
FAMILIES: dict[str, Callable[[], ml_collections.ConfigDict]] = {
    'telescope()': configs.telescope,
    "telescope(size='small')": functools.partial(configs.telescope, size='small'),
    'telescope_source_code()': configs.telescope_source_code,
    'telescope_frame()': configs.telescope_frame,
    "telescope_frame('hour')": functools.partial(configs.telescope_frame, budget='hour'),
    'pictures()': configs.pictures,
    'points()': configs.points,
}
BUILDERS = (configs.telescope, configs.pictures, configs.points)  # read for the fields' comments
COMMAND = 'python -m jaxgan.config_reference > docs/config.md'


@dataclasses.dataclass(frozen=True)
class Field:
  """One field where it is first assigned: its dotted `path`, its `meaning` (comment), the
  `heading` of the group it opens (a comment block above it, '' if none), and whether it is a
  `section` (a sub-config whose fields are documented one by one)."""
  path: str
  meaning: str
  heading: str = ''
  section: bool = False


@dataclasses.dataclass
class _Source:
  """A builder function's source: its syntax tree and its comments by line (1 = `def`)."""
  tree: ast.FunctionDef
  comments: dict[int, str]  # line -> text after '#'
  comment_only: set[int]  # lines holding nothing but a comment
  namespace: dict[str, Any]  # the builder's module globals, to resolve the calls it makes


def _source(function: Callable[..., Any]) -> _Source:
  text = textwrap.dedent(inspect.getsource(function))
  comments, comment_only = {}, set()
  for token in tokenize.generate_tokens(io.StringIO(text).readline):
    if token.type == tokenize.COMMENT:
      comments[token.start[0]] = token.string[1:].strip()
      if not token.line[:token.start[1]].strip():
        comment_only.add(token.start[0])
  return _Source(ast.parse(text).body[0], comments, comment_only, function.__globals__)


def _block(source: _Source, line: int, step: int) -> list[int]:
  """The comment-only lines next to `line`, going by `step` (-1 up, +1 down), in file order."""
  lines = []
  while line + step in source.comment_only:
    line += step
    lines.append(line)
  return sorted(lines)


def _join(source: _Source, lines: list[int]) -> str:
  return ' '.join(source.comments[line] for line in lines)


def _statement_doc(source: _Source, statement: ast.Assign, starts: set[int]) -> tuple[str, str]:
  """(meaning, heading) of an assignment from the comments on, above and below its lines."""
  first, last = statement.lineno, statement.end_lineno
  own = [line for line in range(first, last + 1)
         if line in source.comments and line not in source.comment_only]
  above = _block(source, first, -1)
  below = _block(source, last, +1)
  if below and below[-1] + 1 in starts:
    below = []  # they are the next field's
  if own:
    return _join(source, own + below), _join(source, above)
  return _join(source, above + below), ''


def _resolve(node: ast.expr, namespace: dict[str, Any]) -> Any:
  """The object a name or dotted name in the builder's module refers to (None if unknown)."""
  if isinstance(node, ast.Name):
    return namespace.get(node.id)
  if isinstance(node, ast.Attribute):
    return getattr(_resolve(node.value, namespace), node.attr, None)
  return None


def _target_path(node: ast.expr, aliases: dict[str, str]) -> str | None:
  """The dotted config path that an assignment target names (None if it names none)."""
  if isinstance(node, ast.Name):
    return aliases.get(node.id)
  if isinstance(node, ast.Attribute):
    parent = _target_path(node.value, aliases)
    return None if parent is None else f'{parent}.{node.attr}' if parent else node.attr
  return None


def _builder(value: ast.expr, namespace: dict[str, Any]) -> Callable[..., Any] | None:
  """The function that builds the value, if the value is a call of a function."""
  function = _resolve(value.func, namespace) if isinstance(value, ast.Call) else None
  return function if inspect.isfunction(function) else None


def _is_new_dict(value: ast.expr, namespace: dict[str, Any]) -> bool:
  """Whether the value is an empty `ml_collections.ConfigDict()`, filled field by field."""
  return (isinstance(value, ast.Call) and not value.args and not value.keywords
          and _resolve(value.func, namespace) is ml_collections.ConfigDict)


def _read(function: Callable[..., Any], prefix: str, fields: dict[str, Field]) -> None:
  """Adds to `fields` the fields that `function` assigns, its config being at `prefix`."""
  source = _source(function)
  statements = [node for node in source.tree.body if isinstance(node, ast.Assign)]
  starts = {statement.lineno for statement in statements}
  aliases = {}
  for statement in statements:
    _read_assignment(source, statement, starts, prefix, aliases, fields)


def _read_assignment(source: _Source, statement: ast.Assign, starts: set[int], prefix: str,
                     aliases: dict[str, str], fields: dict[str, Field]) -> None:
  """One assignment: a name for a config (`data = ...`), a field, the sub-config it builds."""
  builder = _builder(statement.value, source.namespace)
  is_config = bool(builder) or _is_new_dict(statement.value, source.namespace)
  paths = [_target_path(target, aliases) for target in statement.targets
           if isinstance(target, ast.Attribute)]
  paths = [path for path in paths if path is not None]
  path = paths[0] if paths else prefix
  if is_config:
    aliases.update({target.id: path for target in statement.targets
                    if isinstance(target, ast.Name)})
  if paths and path in fields:
    return  # a field set again after its definition
  if paths:
    meaning, heading = _statement_doc(source, statement, starts)
    fields[path] = Field(path, meaning, heading, section=is_config)
  if builder:
    _read(builder, path, fields)


def field_docs(*builders: Callable[..., Any]) -> dict[str, Field]:
  """Every field that the `builders` (family functions) define, in the order they define it.

  Args:
    *builders: functions returning a config (e.g. `configs.telescope`), read from their source.

  Returns:
    Dotted path -> Field; a field assigned again later keeps its first definition.
  """
  fields = {}
  for builder in builders:
    _read(builder, '', fields)
  return fields


def _leaves(config: ml_collections.ConfigDict, prefix: str = '') -> dict[str, Any]:
  leaves = {}
  for name, value in config.items():
    if isinstance(value, ml_collections.ConfigDict):
      leaves.update(_leaves(value, f'{prefix}{name}.'))
    else:
      leaves[f'{prefix}{name}'] = value
  return leaves


def _documenting(path: str, fields: dict[str, Field]) -> Field | None:
  """The field that documents `path`: itself, or the field (not a section) it lies inside."""
  while path:
    if path in fields:
      return None if fields[path].section else fields[path]
    path = path.rpartition('.')[0]
  return None


def undocumented(config: ml_collections.ConfigDict, fields: dict[str, Field]) -> list[str]:
  """The leaf fields of `config` that no comment documents.

  Args:
    config: a built config.
    fields: `field_docs` of its builder.

  Returns:
    Their dotted paths, sorted.
  """
  return sorted(path for path in _leaves(config)
                if not getattr(_documenting(path, fields), 'meaning', ''))


def _value(config: ml_collections.ConfigDict, path: str) -> str:
  value = config
  for name in path.split('.'):
    value = value[name]
  if isinstance(value, ml_collections.ConfigDict):
    value = value.to_dict()
  return f'`{value!r}`'


def _values(path: str, built: dict[str, ml_collections.ConfigDict]) -> str:
  """The field's value: one, or each family's ('family, family: value', joined by <br>)."""
  families = {}
  for family, config in built.items():
    families.setdefault(_value(config, path), []).append(f'`{family}`')
  if len(families) == 1:
    return next(iter(families))
  return '<br>'.join(f'{", ".join(names)}: {value}' for value, names in families.items())


def _cell(text: str) -> str:
  """`text` inside a markdown table cell (a '|' of its own would end the cell)."""
  return text.replace('|', '\\|')


def _section_of(path: str) -> str:
  return path.rpartition('.')[0]


def _table(fields: list[Field], built: dict[str, ml_collections.ConfigDict]) -> list[str]:
  """The markdown of one section's `fields`, a new table at each heading."""
  lines = []
  for index, field in enumerate(fields):
    if index == 0 or field.heading:
      lines += ([''] if lines else []) + ([field.heading, ''] if field.heading else [])
      lines += ['| field | value | meaning |', '| --- | --- | --- |']
    values, meaning = _cell(_values(field.path, built)), _cell(field.meaning)
    lines.append(f'| `{field.path}` | {values} | {meaning} |')
  return lines


def _section(name: str, fields: dict[str, Field],
             built: dict[str, ml_collections.ConfigDict]) -> list[str]:
  title = f'`{name}`' if name else 'Top level'
  intro = [fields[name].meaning, ''] if name else []
  members = [field for field in fields.values()
             if _section_of(field.path) == name and not field.section]
  return ['', f'{"#" * (2 + name.count("."))} {title}', '', *intro, *_table(members, built)]


def markdown() -> str:
  """The text of docs/config.md: every field of every family, with its values and meaning."""
  fields = field_docs(*BUILDERS)
  built = {name: build() for name, build in FAMILIES.items()}
  sections = [''] + [field.path for field in fields.values() if field.section]
  families = ', '.join(f'`{name}`' for name in FAMILIES)
  lines = ['# Config reference', '',
           'Every config field, what it means, and its value in each family base of',
           f'jaxgan/configs.py ({families}; one value where they agree).',
           'An experiment (`experiments/*.py`) starts from one base and overrides a few fields;',
           'the command line sets any field, e.g. `--config.train.num_steps=100`.', '',
           f'Generated from the comments in the code by `{COMMAND}`;',
           'do not edit it by hand.']
  for name in sections:
    lines += _section(name, fields, built)
  return '\n'.join(lines) + '\n'


if __name__ == '__main__':
  sys.stdout.write(markdown())
