"""``clinlm``'s entry point: gathers every command module onto the root app and turns a
:class:`~clinlm.errors.ClinlmError` into a one-line ``error: ...`` with exit status 2."""
from __future__ import annotations

import sys

# Each command module registers its commands on clinlm.cli.app's groups when imported.
from clinlm.cli import annotate  # noqa: F401
from clinlm.cli.app import app
from clinlm.cli.console import err
from clinlm.data import commands as data_commands  # noqa: F401
from clinlm.errors import ClinlmError
from clinlm.linking import commands as linking_commands  # noqa: F401
from clinlm.omop import commands as omop_commands  # noqa: F401
from clinlm.pretrain import commands as pretrain_commands  # noqa: F401
from clinlm.serve import commands as serve_commands  # noqa: F401
from clinlm.spark import commands as spark_commands  # noqa: F401
from clinlm.tasks import commands as task_commands  # noqa: F401
from clinlm.tasks.linker import commands as linker_commands  # noqa: F401
from clinlm.tasks.mc import commands as mc_commands  # noqa: F401
from clinlm.tasks.ner import commands as ner_commands  # noqa: F401
from clinlm.tasks.pair import commands as pair_commands  # noqa: F401
from clinlm.tasks.qa import commands as qa_commands  # noqa: F401
from clinlm.tasks.relation import commands as relation_commands  # noqa: F401

def main() -> None:
    try:
        app()
    except ClinlmError as exc:
        from rich.markup import escape

        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)


if __name__ == "__main__":
    main()
