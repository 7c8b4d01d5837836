"""``python -m fieldkit`` runs the ``fieldkit`` command."""

from fieldkit.cli import main

main()
