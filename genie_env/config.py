"""Command-line parsing from a dataclass, so each trainer's config is one typed dataclass (cleanRL style)."""
from __future__ import annotations

import argparse
import dataclasses
import typing


def parse_config(cls, argv=None, description: str | None = None, choices: dict | None = None):
    """Build `cls` from command-line flags named after its fields (`--field-name`)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        flag = "--" + field.name.replace("_", "-")
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        kind = hints[field.name]
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif typing.get_origin(kind) is list:
            parser.add_argument(flag, nargs="+", type=typing.get_args(kind)[0], default=default)
        else:
            parser.add_argument(flag, type=kind, default=default, choices=(choices or {}).get(field.name))
    return cls(**vars(parser.parse_args(argv)))
