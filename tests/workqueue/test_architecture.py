"""The queue's modules import each other without a cycle, lazily imported modules included."""

from __future__ import annotations

import grimp


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Every cycle among ``modules`` (by Tarjan's strongly connected components)."""
    edges = {m: graph.find_modules_directly_imported_by(m) & modules for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in edges[module]:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1 or module in edges[module]:
                cycles.append(sorted(component))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return cycles


def _workqueue_graph() -> tuple[grimp.ImportGraph, set[str]]:
    graph = grimp.build_graph("workqueue", cache_dir=None)
    # A package imports its own modules only to be a package; the cycle rule is about modules.
    modules = {m for m in graph.modules if not graph.find_children(m)}
    return graph, modules


def test_no_import_cycle_among_workqueue_modules():
    graph, modules = _workqueue_graph()

    assert _cycles(graph, modules) == []


def test_the_cycle_check_sees_a_lazy_import_cycle():
    graph, modules = _workqueue_graph()
    # As if models.py imported services inside a function: services already imports models.
    graph.add_import(
        importer="workqueue.models", imported="workqueue.services", line_number=1, line_contents=""
    )

    cycles = _cycles(graph, modules)
    assert any({"workqueue.models", "workqueue.services"} <= set(cycle) for cycle in cycles)
