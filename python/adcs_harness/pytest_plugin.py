"""pytest fixtures for the AD CS stand-in (registered through ``pytest11``).

``adcs_ca`` is an enterprise CA and ``adcs_standalone_ca`` a stand-alone one,
both over HTTPS. Each is one server for the whole session, reset before
every test that uses it, so every test starts from an empty CA in
milliseconds. A failing test's report carries the server's output and
journal (the requests it served) for that test.

Options: ``--adcs-seed N`` (the CA's seed; 1 by default, so its keys come
from the key cache) and ``--adcs-binary PATH`` (else the installed one).
"""

import json

import pytest

from . import Server


def pytest_addoption(parser):
    group = parser.getgroup("adcs-harness", "AD CS stand-in (adcs-harness)")
    group.addoption("--adcs-seed", type=int, default=None,
                    help="seed of the adcs_ca servers (default 1)")
    group.addoption("--adcs-binary", default=None,
                    help="adcs-harness executable (default: the installed one)")


def _session_server(request, mode):
    server = Server(mode=mode, seed=request.config.getoption("--adcs-seed"),
                    binary=request.config.getoption("--adcs-binary"))
    server.start()
    request.addfinalizer(server.stop)
    return server


@pytest.fixture(scope="session")
def _adcs_enterprise_server(request):
    return _session_server(request, "enterprise")


@pytest.fixture(scope="session")
def _adcs_standalone_server(request):
    return _session_server(request, "standalone")


def _fresh(server, request):
    server.reset()
    request.node._adcs_logs = getattr(request.node, "_adcs_logs", [])
    request.node._adcs_logs.append((server, server.log_size()))
    return server


@pytest.fixture
def adcs_ca(_adcs_enterprise_server, request):
    """An enterprise CA (templates, HTTPS), reset for this test."""
    return _fresh(_adcs_enterprise_server, request)


@pytest.fixture
def adcs_standalone_ca(_adcs_standalone_server, request):
    """A stand-alone CA (every request pending, HTTPS), reset for this test."""
    return _fresh(_adcs_standalone_server, request)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for server, offset in getattr(item, "_adcs_logs", []):
            try:
                journal = "\n".join(json.dumps(e) for e in server.journal())
            except Exception as e:  # the server may be what failed
                journal = "(no journal: %s)" % e
            output = server.log(offset) or "(no output)"
            report.sections.append(
                ("adcs-harness serve (%s)" % server.mode,
                 "%s\n-- journal (this test's requests) --\n%s" % (output, journal))
            )
