# The README's two quick-start commands, spelled out. torch is pinned to the CPU build that installs locally.
PY ?= python

install:
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e ".[dev]"

demo: install
	$(PY) -m genie_env.demo --gif dream.gif

test: install
	SDL_VIDEODRIVER=dummy $(PY) -m pytest -q

.PHONY: install demo test
