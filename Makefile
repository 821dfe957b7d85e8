# The kit's two commands: `make run` (the main job) and `make test` (all tests).
#
# CIFAR10_URL / CIFAR10_MD5 point the download at a mirror (see README.md).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA := datasets/cifar-10-batches-py
BUILD := build
SUBMISSIONS ?= submissions
GRADES ?= grades
JOBS ?= 2
# Test files run in TEST_JOBS processes (pytest-xdist), each file in one process.
TEST_JOBS ?= 2

.PHONY: run test data env release grade clean help

help:
	@echo "make run    create .venv, fetch CIFAR-10, execute notebooks/two_layer_net.ipynb, write HTML"
	@echo "make test   run the whole test suite (unit tests and nbval runs of the notebooks)"
	@echo "make release                      (instructors) write the student kit to build/student-kit"
	@echo "make grade SUBMISSIONS=dir GRADES=dir JOBS=2   (instructors) autograde <student>.zip files"

env: $(STAMP)

# The instructor source installs requirements-dev.txt (the student requirements plus
# tests and grading); the student kit has only requirements.txt.
REQUIREMENTS := $(firstword $(wildcard requirements-dev.txt) requirements.txt)

$(STAMP): requirements.txt $(wildcard requirements-dev.txt)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r $(REQUIREMENTS)
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

data: $(STAMP)
	$(PY) get_datasets.py

run: data
	@mkdir -p $(BUILD)
	$(PY) -m jupyter nbconvert --to notebook --execute \
	    --ExecutePreprocessor.timeout=1800 --ExecutePreprocessor.store_widget_state=False \
	    --output-dir $(BUILD) notebooks/two_layer_net.ipynb
	$(PY) -m kit.student.html_export $(BUILD)/two_layer_net.ipynb
	@echo
	@echo "Executed notebook: $(BUILD)/two_layer_net.ipynb"
	@echo "HTML copy:         $(abspath $(BUILD))/two_layer_net.html"

# In the student kit (no tests/ folder) `make test` is the students' self-check:
# nbval runs the notebooks against their stored reference outputs.
PYTEST := $(PY) -m pytest -n $(TEST_JOBS) --dist loadfile
test: data
ifneq ($(wildcard tests),)
	$(PYTEST)
else
	$(PYTEST) --nbval notebooks/ --nbval-sanitize-with notebooks/sanitize.cfg
endif

release: $(STAMP)
	$(PY) -m kit release $(BUILD)/student-kit

grade: $(STAMP)
	$(PY) -m kit grade $(SUBMISSIONS) --out $(GRADES) --jobs $(JOBS)

clean:
	rm -rf $(BUILD) .pytest_cache
