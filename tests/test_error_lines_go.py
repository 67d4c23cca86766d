"""A Go test failure is named by its message, not by the runner's ``--- FAIL: TestName`` header."""

from __future__ import annotations

from offmem.summarize import facts as F

GO_TEST_FAILURE = """--- FAIL: TestRestartReleasesLock (0.30s)
    main_test.go:48: open store: database is locked (burrow.lock held by pid 1)
FAIL
FAIL  example.invalid/burrowkv/cmd/burrowd  0.38s"""


def test_go_test_failure_names_the_message():
    assert F.error_line(GO_TEST_FAILURE).startswith("main_test.go:48: open store: database is locked")
