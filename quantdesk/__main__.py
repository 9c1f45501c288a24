"""Run the CLI as `python -m quantdesk`."""

from quantdesk.cli import main

main()
