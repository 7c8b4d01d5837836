"""``python -m syncserver`` runs the ``syncserver`` command."""

from syncserver.cli import main

main()
