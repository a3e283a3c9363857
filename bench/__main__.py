"""``python -m bench [--http] ...``: see bench/run.py and bench/loadtest.py."""

from bench.run import main

main()
