# The kit's two commands: `make run` (the main job) and `make test` (all tests).
#
# CIFAR10_URL / CIFAR10_MD5 point the download at a mirror (see README.md).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA := datasets/cifar-10-batches-py
BUILD := build

.PHONY: run test lab data env clean help

help::
	@echo "make run    create .venv, fetch CIFAR-10, run notebooks/two_layer_net.ipynb, write build/ copy and HTML"
	@echo "make test   run the tests (in the student kit: your current code against the reference outputs)"
	@echo "make lab    start Jupyter Lab in this folder, with notebooks/two_layer_net.ipynb open"

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

# The notebook runs headless and stops at the first check that fails (as in Jupyter); the executed
# copy and its offline HTML page are written either way, and a few lines say how it went.
run: data
	$(PY) -m kit.student.run_notebook notebooks/two_layer_net.ipynb --out $(BUILD)

# Jupyter Lab serves the kit's root (not notebooks/ only), so that the notebooks' "open the file
# cs231n/..." can be followed in its file browser.
lab: $(STAMP)
	$(PY) -m jupyter lab --ServerApp.root_dir=. notebooks/two_layer_net.ipynb

# In the student kit, the self-check: the notebooks on the current code against the reference
# outputs that shipped (python -m kit check); in the instructor source, the whole test suite.
test: data
ifneq ($(wildcard kit/instructor),)
	$(PY) -m pytest $(PYTEST_ARGS)
else
	$(PY) -m kit check
endif

clean:
	rm -rf $(BUILD) .pytest_cache

# ---- instructor targets: the student kit's Makefile ends above this line ----
SUBMISSIONS ?= submissions
GRADES ?= grades
JOBS ?= 2
# Test files run in TEST_JOBS processes (pytest-xdist), each file in one process, the slowest
# first (tests/conftest.py). Three on two cores: the grading tests spend minutes waiting out
# time limits, and a third process keeps both cores busy meanwhile.
TEST_JOBS ?= 3
PYTEST_ARGS := -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder

.PHONY: release grade gradescope

# The notebooks are graded on DATA: always when DATA is given (make grade DATA=dir), else when
# the kit's own dataset is there (without it, only the code is graded, and grade says so).
GRADE_DATA = $(if $(filter command line,$(origin DATA)),--data $(DATA),$(if $(wildcard $(DATA)/batches.meta),--data $(DATA)))

help::
	@echo "make release                      (instructors) write the student kit to build/student-kit"
	@echo "make grade SUBMISSIONS=dir GRADES=dir JOBS=2 DATA=dir   (instructors) autograde <student>.zip files:"
	@echo "                                  code and notebooks (DATA: a CIFAR-10 folder, default $(DATA))"
	@echo "make gradescope                   (instructors) write the Gradescope autograder to build/gradescope-autograder.zip"

release: $(STAMP)
	$(PY) -m kit release $(BUILD)/student-kit

grade: $(STAMP)
	$(PY) -m kit grade $(SUBMISSIONS) --out $(GRADES) --jobs $(JOBS) $(GRADE_DATA)

gradescope: $(STAMP)
	$(PY) -m kit gradescope $(BUILD)/gradescope-autograder.zip
