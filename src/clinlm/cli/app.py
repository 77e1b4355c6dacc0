"""The root ``clinlm`` Typer app and its command groups; command modules register on these.

Every ``commands.py`` (``tasks/<task>/commands.py``, ``data/commands.py``, ``cli/annotate.py``)
imports the group it adds to from here; :mod:`clinlm.cli.main` imports them all and runs the app.
"""
from __future__ import annotations

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Clinical language models: fine-tune, evaluate and annotate whole clinical notes.")
train_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Fine-tune an encoder on a task.")
evaluate_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Score a fine-tuned model on gold data.")
predict_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                          help="Run a fine-tuned model on new data (NER: see `annotate`).")
data_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Build ready-to-train data sets.")
export_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Export a model for another runtime.")
app.add_typer(train_app, name="train")
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(predict_app, name="predict")
app.add_typer(data_app, name="data")
app.add_typer(export_app, name="export")
