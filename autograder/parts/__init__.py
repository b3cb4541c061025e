"""The parts of the homework, in grading order. Each module holds everything about its part:
the student files it needs (FILES), what the student's process builds and exports
(build), the judge's secret inputs (inputs), what the measuring process computes from the
exported graphs (MEASURES) and the tests with their points and checks (TESTS)."""
from . import cvae, e2e_cvae, e2e_vae, loss, reparameterize, train_vae, vae

PARTS = (reparameterize, loss, vae, cvae, train_vae, e2e_vae, e2e_cvae)
BY_NAME = {part.NAME: part for part in PARTS}
