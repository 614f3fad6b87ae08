"""``python -m tascodec.cli ...``: the ``tasz`` command, for when the script is not on PATH (or under torchrun)."""
from tascodec.cli.main import main

main()
