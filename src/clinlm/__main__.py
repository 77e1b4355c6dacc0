"""``python -m clinlm`` runs the command line."""
from clinlm.cli.main import main

main()
