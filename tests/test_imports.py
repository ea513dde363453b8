"""The layers of cnnjax import each other in one direction only.

Every import of every module counts, including those inside functions
(a deferred import hides a cycle from Python, not from a reader). An edge
from a module to a package that contains it is not counted: importing any
submodule runs its packages' __init__ first, whatever the code says.
"""

import ast
import os

from tests.conftest import REPO

PACKAGE = os.path.join(REPO, "cnnjax")


def module_files() -> dict[str, str]:
  """{"cnnjax.tasks.gan.step": path} of every module of the package."""
  modules = {}
  for root, _, files in os.walk(PACKAGE):
    for name in files:
      if name.endswith(".py"):
        path = os.path.join(root, name)
        parts = os.path.relpath(path, REPO)[:-3].split(os.sep)
        if parts[-1] == "__init__":
          parts = parts[:-1]
        modules[".".join(parts)] = path
  return modules


def import_graph(modules: dict[str, str]) -> dict[str, set[str]]:
  """module -> the cnnjax modules it imports (anywhere in its code)."""
  def target(name: str) -> str | None:
    while name and name not in modules:
      name = name.rpartition(".")[0]
    return name or None

  graph = {}
  for module, path in modules.items():
    package = module if path.endswith("__init__.py") else module.rpartition(
        ".")[0]
    edges = set()
    with open(path) as f:
      tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
      names = []
      if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
      elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
          parts = package.split(".")
          base = ".".join(parts[:len(parts) - node.level + 1] +
                          ([base] if base else []))
        names = [f"{base}.{alias.name}" for alias in node.names] + [base]
      for name in names:
        found = target(name)
        if found and found != module and not module.startswith(found + "."):
          edges.add(found)
    graph[module] = edges
  return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
  """The strongly connected components with more than one module (Tarjan)."""
  index, low, stack, on_stack, found = {}, {}, [], set(), []

  def visit(node):
    index[node] = low[node] = len(index)
    stack.append(node)
    on_stack.add(node)
    for other in sorted(graph[node]):
      if other not in index:
        visit(other)
        low[node] = min(low[node], low[other])
      elif other in on_stack:
        low[node] = min(low[node], index[other])
    if low[node] == index[node]:
      component = []
      while True:
        other = stack.pop()
        on_stack.discard(other)
        component.append(other)
        if other == node:
          break
      if len(component) > 1:
        found.append(sorted(component))

  for node in sorted(graph):
    if node not in index:
      visit(node)
  return found


def test_the_checker_finds_a_cycle_through_a_deferred_import(tmp_path):
  """The checker itself: a cycle hidden in a function is found."""
  (tmp_path / "a.py").write_text("import pkg.b\n")
  (tmp_path / "b.py").write_text("def f():\n  from pkg import a\n")
  modules = {"pkg.a": str(tmp_path / "a.py"), "pkg.b": str(tmp_path / "b.py")}
  assert cycles(import_graph(modules)) == [["pkg.a", "pkg.b"]]
  (tmp_path / "b.py").write_text("def f():\n  return 1\n")
  assert cycles(import_graph(modules)) == []


def test_no_import_cycles():
  modules = module_files()
  assert "cnnjax.tasks.gan.step" in modules and len(modules) > 50
  assert cycles(import_graph(modules)) == []


def test_layers_point_down():
  """The services below the tasks never import the tasks or the loop:
  evaluation depends on workdir, data, metrics and nets, never on train/;
  editing reads runs' files itself, never through a task."""
  graph = import_graph(module_files())
  upper = ("cnnjax.tasks", "cnnjax.train", "cnnjax.runs", "cnnjax.commands",
           "cnnjax.main", "cnnjax.bench")
  lower = ("cnnjax.editing", "cnnjax.evaluation", "cnnjax.nets", "cnnjax.metrics",
           "cnnjax.models", "cnnjax.data", "cnnjax.workdir", "cnnjax.sharding",
           "cnnjax.utils", "cnnjax.config")
  wrong = sorted(f"{module} -> {other}" for module, edges in graph.items()
                 if module.startswith(lower) for other in edges
                 if other.startswith(upper))
  assert wrong == []
  # The loop never names a task: it reaches them through the registry.
  assert not any(
      other.startswith(("cnnjax.tasks.gan", "cnnjax.tasks.classifier"))
      for other in graph["cnnjax.train.loop"])
