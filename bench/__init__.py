"""The benchmark: ``python -m bench.run [--quick]`` (``make bench``); see bench/run.py."""
