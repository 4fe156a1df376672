"""What `import symexpr` and a first small call load, and the public names that load at first use."""
import copy
import json
import pickle
import subprocess
import sys

import pytest

import symexpr as sx
from symexpr.graph import FrozenError

MODULES = """
import json, sys
before = set(sys.modules)
{body}
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def loaded_by(body: str, after: str = "import numpy as np") -> set[str]:
    """The modules a new process loads for `body`, beyond those it had after `after`."""
    code = after + "\n" + MODULES.format(body=body)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_a_new_process_compiling_and_calling_a_small_program_loads_only_what_it_uses():
    loaded = loaded_by("import symexpr as sx\n"
                       "p = sx.compile('r = 2*a + 3*b - c*d')\n"
                       "p(**{x: np.linspace(-1, 1, 1000, dtype=np.float32) for x in 'abcd'})")
    # Not OpenCL, not the grammar's compiler (the parser's tables are cached), not tracing nor
    # gradients; and none of the standard modules that cost a millisecond or more each.
    unwanted = {"pyopencl", "lark", "symexpr.tracing", "symexpr.gradients", "symexpr.syntax_errors",
                "symexpr.passes.differentiate", "threading", "dataclasses", "zlib", "hashlib", "pathlib", "difflib"}
    assert not loaded & unwanted, sorted(loaded & unwanted)
    assert "symexpr.backends.numpy" in loaded  # (the call ran: the check above can fail)


def test_the_functions_of_the_language_and_hybridize_load_at_first_use():
    loaded = loaded_by("import symexpr as sx\nassert 'symexpr.tracing' not in sys.modules\n"
                       "assert float(sx.sin(0.5)) == float(np.sin(0.5))\n"
                       "assert callable(sx.hybridize) and callable(sx.grad)")
    assert {"symexpr.tracing", "symexpr.gradients"} <= loaded


def test_lazy_names_are_the_ones_documented():
    from symexpr.ops import FUNCTIONS
    from symexpr.tracing import FUNCTION_WRAPPERS, Symbol, TracingError, hybridize

    names = dir(sx)
    assert set(FUNCTIONS) <= set(names) and {"hybridize", "grad", "value_and_grad", "Symbol"} <= set(names)
    assert sx.hybridize is hybridize and sx.Symbol is Symbol and sx.TracingError is TracingError
    assert sx.where is FUNCTION_WRAPPERS["where"] and sx.float32 is FUNCTION_WRAPPERS["float32"]
    assert sx.grad is not FUNCTION_WRAPPERS["grad"]  # sx.grad is the API; grad(y, x) traces inside it
    assert sx.grad.__module__ == "symexpr.gradients"
    with pytest.raises(AttributeError, match="has no attribute 'sine'"):
        sx.sine  # noqa: B018
    assert set(sx.__all__) <= set(names)
    from symexpr import maximum  # (from-import goes through the module's __getattr__ too)

    assert maximum is FUNCTION_WRAPPERS["maximum"]
    star: dict = {}
    exec("from symexpr import *", star)
    assert star["hybridize"] is hybridize and star["grad"] is sx.grad and "sin" not in star  # __all__ only


def test_nodes_and_graphs_are_immutable_and_copy_and_pickle():
    g = sx.compile("c = a * b + 1").parsed
    node = g.outputs[0][1]
    with pytest.raises(FrozenError, match="immutable"):
        node.op = "subtract"
    with pytest.raises(AttributeError):
        g.source = ""
    for frozen, field in ((node, "op"), (g, "nodes")):  # nor deleted (as a frozen dataclass refused it)
        with pytest.raises(FrozenError, match="immutable"):
            delattr(frozen, field)
        assert getattr(frozen, field)
    renamed = node.replace(name="d")
    assert (renamed.name, renamed.op, renamed.inputs, node.name) == ("d", node.op, node.inputs, "c")
    with pytest.raises(TypeError, match="no field 'colour'"):
        node.replace(colour="red")
    assert node.with_inputs(node.inputs) is node
    for twin in (pickle.loads(pickle.dumps(g)), copy.deepcopy(g)):
        assert str(twin) == str(g) and twin.source == g.source and twin is not g
        assert [n.op for n in twin.nodes] == [n.op for n in g.nodes]
    assert copy.copy(node) is not node and copy.copy(node).inputs is node.inputs
    x = sx.Node("input", (), ("x",))
    assert x == x and x != sx.Node("input", (), ("x",))  # by identity: a set of nodes is one of identities
    assert repr(g).startswith("Graph(") and "inputs ['a', 'b']" in repr(g)
    assert x.input_name == "x"


def test_the_language_functions_pickle_by_their_public_name():
    # sx.sin is pickled as a reference to `symexpr.sin` (what multiprocessing and concurrent.futures send
    # to their workers), read back through the module's __getattr__: the same function.
    for name in ("sin", "where", "float32", "maximum", "round"):
        function = getattr(sx, name)
        assert pickle.loads(pickle.dumps(function)) is function
        assert copy.deepcopy(function) is function
    assert pickle.loads(pickle.dumps(sx.grad)) is sx.grad
