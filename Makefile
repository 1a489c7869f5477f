# The two commands the README starts with; everything else is a convenience.
PY := .venv/bin/python

.PHONY: setup demo test lint fuzz clean
setup:
	bash scripts/setup.sh

demo: setup          ## README command 1: the full stereo pipeline on a generated KITTI-size bag
	$(PY) -m dsc_ros.tools.demo --out out/demo

test: setup          ## README command 2: set up and run the test suite
	$(PY) -m pytest test -q

lint: setup          ## ruff (lint + format check) on the tree, mypy on dsc_core and dsc_ros/wire.py (pyproject.toml)
	@rc=0; \
	.venv/bin/ruff check . || rc=1; \
	.venv/bin/ruff format --check . || rc=1; \
	.venv/bin/mypy || rc=1; \
	exit $$rc

fuzz: setup          ## coverage-guided fuzzing (atheris) of the parser and the decoder; see test/fuzz/README.md
	PYTHONPATH=. $(PY) test/fuzz/fuzz_container.py --reseal -runs=1000000
	PYTHONPATH=. $(PY) test/fuzz/fuzz_decode.py --reseal --payload-mutations 0.3 --max-side 512 \
		--skip-pixels-above 262144 -runs=200000

clean:
	rm -rf build out .pytest_cache
