"""The root ``clinlm`` Typer app and its command groups; command modules register on these.

Every ``commands.py`` (``tasks/<task>/commands.py``, ``data/commands.py``, ``cli/annotate.py``)
imports the group it adds to from here; :mod:`clinlm.cli.main` imports them all and runs the app.
"""
from __future__ import annotations

from enum import Enum
from pathlib import PurePath
from typing import Any, List, get_args, get_origin

import typer
from typer.core import TyperCommand

_TYPE_METAVARS = {str: "TEXT", int: "INTEGER", float: "FLOAT", bool: "BOOLEAN"}


def _metavar(param: Any) -> str:
    """click's plain placeholder for a value: TEXT, INTEGER, FLOAT, PATH, [a|b] (an argument: its name)."""
    if param.metavar:
        return param.metavar
    if param.param_type_name == "argument":
        return param.name.upper()
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None:  # a typer on click's own types: click's names
        choices = getattr(param.type, "choices", None)
        return "[" + "|".join(map(str, choices)) + "]" if choices else param.type.name.upper()
    annotation = descriptor.annotation
    if get_origin(annotation) in (list, List):
        annotation = get_args(annotation)[0]
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "[" + "|".join(str(m.value) for m in annotation) + "]"
    if isinstance(annotation, type) and issubclass(annotation, PurePath):
        return "PATH"
    return _TYPE_METAVARS.get(annotation, "VALUE")


def _option_names(param: Any) -> str:
    """``-m, --model TEXT``; a flag (``--json``, ``--context / --no-context``) shows no placeholder."""
    def names(opts: list[str]) -> str:
        return ", ".join(sorted(opts, key=lambda o: len(o) - len(o.lstrip("-/"))))

    shown = " / ".join(names(o) for o in (param.opts, param.secondary_opts) if o)
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return shown
    return f"{shown} {_metavar(param)}"


class ClinlmCommand(TyperCommand):
    """Help in click's plain style (``--batch-size INTEGER``, ``INPUTS...``): newer typer prints its
    own placeholders (``<int>``, ``<list[str]>``, ``{inputs}...``) even with rich markup off."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if param.param_type_name == "argument" and not param.metavar:
                param.metavar = param.name.upper()  # "Missing argument 'INPUTS'" matches the usage line

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = _metavar(param) if param.required else f"[{_metavar(param)}]"
                pieces.append(name + ("..." if param.nargs != 1 else ""))
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        args, opts = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                args.append((_metavar(param) + ("..." if param.nargs != 1 else ""), record[1]))
            else:
                opts.append((_option_names(param), record[1]))
        for title, rows in (("Arguments", args), ("Options", opts)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class ClinlmTyper(typer.Typer):
    """A Typer whose help never parses rich markup (help texts hold ``[E1:Drug] ... [/E1:Drug]``) and
    whose commands show plain placeholders (:class:`ClinlmCommand`)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("rich_markup_mode", None)
        super().__init__(**kwargs)

    def command(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("cls", ClinlmCommand)
        return super().command(*args, **kwargs)


app = ClinlmTyper(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Clinical language models: fine-tune, evaluate and annotate whole clinical notes.")
train_app = ClinlmTyper(no_args_is_help=True, help="Fine-tune an encoder on a task.")
evaluate_app = ClinlmTyper(no_args_is_help=True, help="Score a fine-tuned model on gold data.")
predict_app = ClinlmTyper(no_args_is_help=True, help="Run a fine-tuned model on new data (NER: see `annotate`).")
data_app = ClinlmTyper(no_args_is_help=True, help="Build ready-to-train data sets.")
export_app = ClinlmTyper(no_args_is_help=True, help="Export a model for another runtime.")
app.add_typer(train_app, name="train")
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(predict_app, name="predict")
app.add_typer(data_app, name="data")
app.add_typer(export_app, name="export")
link_app = ClinlmTyper(no_args_is_help=True, help="Concept linking: build an index of a vocabulary you hold.")
app.add_typer(link_app, name="link")
