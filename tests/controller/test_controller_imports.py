"""controller/ has no import cycle: the options, the shared state, the runner
and the handlers each import only what sits below them (issue 18: the options
lived in the runner, which imported the handlers, which imported the state,
which imported the runner)."""

from __future__ import annotations

import grimp

PACKAGE = "deploymentgate.controller"


def test_no_module_of_the_controller_imports_itself_through_others() -> None:
    graph = grimp.build_graph("deploymentgate", include_external_packages=False)
    modules = sorted(m for m in graph.modules if m.startswith(f"{PACKAGE}."))
    assert len(modules) > 20  # the package was found, with its modules
    cycles = []
    for module in modules:
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported.startswith(PACKAGE) and graph.chain_exists(imported, module):
                chain = graph.find_shortest_chain(imported, module)
                cycles.append(f"{module} -> {' -> '.join(chain or ())}")
    assert cycles == []
