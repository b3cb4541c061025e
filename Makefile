# One command per job. Every target sets up what it needs (virtualenv, packages, MNIST).
#   students: make train ARGS="--is_cvae" | make grade | make data | make clean
#   staff:    make test | make test-fast | make stencil | make handout | make autograder
#             make gradescope-local | make classifier | make calibrate | make bench | make regrade EXPORT=... | make clean-student-data
#   COURSE=courses/<name>.toml selects the course file for grade, handout, autograder and bench.
# As root (a container, CI), a Python that unprivileged users can run, which the grader needs
# to run student code as one of them (install/choose_python.sh --no-install picks it).
PYTHON ?= $(if $(filter 0,$(shell id -u 2>/dev/null)),$(shell bash install/choose_python.sh --no-install 2>/dev/null || echo python3),python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUBMISSION ?= code
ARGS ?=
COURSE ?=
COURSE_ARG = $(if $(COURSE),--course "$(COURSE)")
STAFF_ONLY = @test -d solution || { echo "This target is for course staff: it needs solution/ (not part of the student handout)."; exit 2; }

.PHONY: venv data train grade test test-fast stencil handout autograder gradescope-local classifier calibrate bench regrade clean clean-student-data

venv: $(STAMP)
$(STAMP): requirements.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "There is no '$(PYTHON)' here. The homework needs Python 3.11, 3.12 or 3.13: install one and run, for example, make PYTHON=python3.12 ... (see README.md)." >&2; exit 2; }
	@$(PYTHON) install/check_python.py
	@echo "Creating $(VENV) with $$($(PYTHON) --version) and installing TensorFlow and the other pinned packages"
	@echo "(once; about 600 MB, 1-3 minutes on a fast connection) ..."
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@
	@echo "$(VENV) is ready."

data: $(STAMP)
	@$(PY) data/fetch.py $(COURSE_ARG)

train: data
	cd code && ../$(PY) assignment.py $(ARGS)

grade: data
	$(PY) -m autograder $(COURSE_ARG) --submission "$(SUBMISSION)" --results outputs/results.json $(GRADER_ARGS)

# The project's tests, TEST_JOBS at a time (each grading uses its own processes and user ids).
TEST_JOBS ?= 2
test: data
	$(STAFF_ONLY)
	@$(PY) data/fetch.py --all
	$(PY) -m pytest tests -n $(TEST_JOBS) --dist worksteal --durations=15 $(PYTEST_ARGS)

# The checks, the sandbox's defences, graphs, course files, packaging: no grading run.
test-fast: data
	$(STAFF_ONLY)
	@$(PY) data/fetch.py --all
	$(PY) -m pytest tests -m "not slow" $(PYTEST_ARGS)

stencil: $(STAMP)
	$(STAFF_ONLY)
	$(PY) tools/stencil.py

handout: $(STAMP)
	$(STAFF_ONLY)
	$(PY) tools/package.py handout $(COURSE_ARG) $(ARGS)

# make autograder [COURSE=...] [ARGS="--with-data --force"]
autograder: $(STAMP)
	$(STAFF_ONLY)
	$(PY) tools/package.py autograder $(COURSE_ARG) $(ARGS)

# The Gradescope image, set up and run here as Gradescope would: make gradescope-local [COURSE=...] [DIR=...] [SUBMISSION=...]
gradescope-local: data
	$(STAFF_ONLY)
	$(PY) tools/gradescope_local.py $(COURSE_ARG) $(if $(DIR),--dir "$(DIR)") --submission "$(SUBMISSION)"

classifier: data
	$(STAFF_ONLY)
	$(PY) -m autograder.classifier.train $(COURSE_ARG) $(ARGS)

calibrate: data
	$(STAFF_ONLY)
	$(PY) tools/calibrate.py $(COURSE_ARG) $(ARGS)

bench: data
	$(STAFF_ONLY)
	$(PY) tools/bench.py $(COURSE_ARG) $(ARGS)

# Regrade a Gradescope export: make regrade EXPORT=export.zip [JOBS=2] [COURSE=...] [OUT=outputs/regrade] [ARGS=--force]
# Without COURSE=, the course file the export's results are stamped with (else it asks for COURSE=).
regrade: data
	$(STAFF_ONLY)
	@test -n "$(EXPORT)" || { echo "Name the export: make regrade EXPORT=path/to/submissions_export.zip"; exit 2; }
	$(PY) tools/regrade.py "$(EXPORT)" $(if $(JOBS),--jobs $(JOBS)) $(COURSE_ARG) $(if $(OUT),--out "$(OUT)") $(ARGS)

# Generated files; keeps outputs/regrade/ (a class's gradings: hours of work to redo).
clean:
	rm -rf dist outputs/*.png outputs/*.json outputs/*.h5 outputs/report*.html .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# Every student's data: outputs/regrade/ (a regrade's names, emails, ids, code, results, records)
# and make grade's results and reports (a folder given as OUT= is yours to remove).
clean-student-data:
	rm -rf outputs/regrade outputs/results.json outputs/report*.html
