# The two commands the README starts with; everything else is a convenience.
PY := .venv/bin/python

.PHONY: setup demo test fuzz clean
setup:
	bash scripts/setup.sh

demo: setup          ## README command 1: the full stereo pipeline on a generated KITTI-size bag
	$(PY) -m dsc_ros.tools.demo --out out/demo

test: setup          ## README command 2: set up and run the test suite
	$(PY) -m pytest test -q

fuzz: setup          ## coverage-guided fuzzing (atheris) of the parser and the decoder; see test/fuzz/README.md
	PYTHONPATH=. $(PY) test/fuzz/fuzz_container.py --reseal -runs=1000000
	PYTHONPATH=. $(PY) test/fuzz/fuzz_decode.py --reseal --payload-mutations 0.3 --max-side 512 \
		--skip-pixels-above 262144 -runs=200000

clean:
	rm -rf build out .pytest_cache
