"""``python -m clinlm`` runs the command line."""
from .cli import main

main()
