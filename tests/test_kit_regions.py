"""Grading regions, not files: a student's regions laid into the instructor's scaffold.

The course's files of other years put other code around the same regions (a
true division in `train`, `past.builtins` imports, `affine_backward(dout,
cache)` without kit keywords). The grader takes only the regions, matched by
the function they sit in, so such files get exactly what their regions earn.
The course-era files here are written for this test in the course's style;
they are not the course's files.
"""
import json

import pytest

import kit_fixtures as fx
from kit.instructor.grade.run import grade
from kit.instructor.sandbox.isolation import Limits, locate_bwrap
from kit.instructor.grade.splice import map_traceback, splice, syntax_message
from kit.student.regions import END, START, region_keys, stub_regions

S, E = START, END

SCAFFOLD = f"""import numpy as np


def f(x):
    y = None
    {S}
    pass
    {E}
    return y


class Net:
    def loss(self, X):
        a = None
        {S}
        pass
        {E}
        b = None
        {S}
        pass
        {E}
        return a, b
"""


def student(f_body, a_body, b_body, header="", tail=""):
    return f"""{header}import numpy as np
from past.builtins import xrange  # the course's skeleton


def f(x):
    # a different docstring and helper code of another year
    y = 0
  {S}
{f_body}
  {E}
    return y * 1


class Net(object):
    def loss(self, X):
        {S}
{a_body}
        {E}
        {S}
{b_body}
        {E}
        return a, b
{tail}"""


def test_region_keys_follow_the_enclosing_function():
    lines = SCAFFOLD.splitlines()
    assert region_keys(lines) == [("f", 0), ("Net.loss", 0), ("Net.loss", 1)]


def test_regions_go_into_the_scaffold_reindented_and_nothing_else_does():
    text = student("    y = x + 1", "        a = X * 2", "        b = X * 3", tail="\nprint('module code')\n")
    result = splice("m.py", SCAFFOLD, text)
    assert result.mode == "regions" and result.messages == []
    assert "past.builtins" not in result.text and "module code" not in result.text
    assert "    y = x + 1" in result.text and "return y\n" in result.text
    namespace = {}
    exec(compile(result.text, "m.py", "exec"), namespace)
    assert namespace["f"](1) == 2 and namespace["Net"]().loss(1) == (2, 3)
    # Line numbers of the spliced file map back to the student's own file.
    spliced_line = result.text.splitlines().index("    y = x + 1") + 1
    own_line = text.splitlines().index("    y = x + 1") + 1
    assert result.student_line(spliced_line) == own_line
    trace = f'File "/kit/m.py", line {spliced_line}, in f'
    assert map_traceback(trace, {"m.py": result}) == f'File "m.py", line {own_line}, in f'


def test_extra_regions_are_ignored_and_named():
    text = student("    y = x", "        a = 1", "        b = 2", tail=f"""

def batchnorm_forward(x):
    {S}
    out = x
    {E}
    return out
""")
    result = splice("m.py", SCAFFOLD, text)
    assert result.mode == "regions"
    assert result.messages == ["m.py: not graded (not part of this assignment): your region 1 of batchnorm_forward"]


@pytest.mark.parametrize("text, why", [
    ("def f(x):\n    return x\n", "no START / END OF YOUR CODE lines"),
    (f"def f(x):\n    {S}\n    y = x\n    return y\n", "do not pair up"),
    (f"def g(x):\n    {S}\n    y = x\n    {E}\n", "your file has no region 1 of f"),
])
def test_files_whose_regions_do_not_match_are_graded_whole_and_say_so(text, why):
    result = splice("m.py", SCAFFOLD, text)
    assert result.mode == "file" and result.text == text
    assert len(result.messages) == 1 and why in result.messages[0] and "whole file" in result.messages[0]


def test_a_syntax_error_is_reported_in_the_students_lines():
    text = student("    y = (x +", "        a = 1", "        b = 2")
    result = splice("m.py", SCAFFOLD, text)
    message = syntax_message("m.py", result)
    own = text.splitlines().index("    y = (x +") + 1
    assert message.startswith(f"m.py, line {own}: SyntaxError"), message
    assert syntax_message("m.py", splice("m.py", SCAFFOLD, student("    y = x", "        a = 1", "        b = 2"))) is None


HELPERS = student("    y = twice(x)", "        a = double(X)", "        b = self._half(X)",
                  header="import os\n",
                  tail="""

def twice(v):
    return 2 * v


SCALE = 3
print('module code')
os.environ['HELPER_SIDE_EFFECT'] = '1'
""")
HELPERS = HELPERS.replace("    def loss(self, X):\n", """    def loss(self, X):
        double = lambda v: 2 * v  # a helper between the given lines and the region
""").replace("        return a, b\n", """        return a, b

    def _half(self, v):
        return v / 2
""")


def test_helper_definitions_outside_the_regions_are_kept_and_nothing_else():
    result = splice("m.py", SCAFFOLD, HELPERS)
    assert result.mode == "regions"
    assert "module code" not in result.text and "HELPER_SIDE_EFFECT" not in result.text
    assert "past.builtins" not in result.text and "import os" not in result.text
    namespace = {}
    exec(compile(result.text, "m.py", "exec"), namespace)
    assert namespace["f"](1) == 2 and namespace["Net"]().loss(4) == (8, 2)
    assert namespace["SCALE"] == 3
    assert len(result.messages) == 1 and result.messages[0].startswith("m.py: kept your definitions outside "
                                                                      "the regions: ")
    for name in ("double", "twice", "SCALE", "_half"):
        assert name in result.messages[0]
    # Their lines map back to the student's own.
    own = HELPERS.splitlines().index("        double = lambda v: 2 * v  # a helper between the given lines "
                                     "and the region") + 1
    spliced = [i for i, line in enumerate(result.text.splitlines(), 1) if "double = lambda" in line]
    assert [result.student_line(i) for i in spliced] == [own]


def test_helpers_never_replace_given_names():
    text = student("    y = x", "        a = 1", "        b = 2").replace(
        "    def loss(self, X):\n", "    def loss(self, X):\n        a = 42\n        X = None\n")
    result = splice("m.py", SCAFFOLD, text + "\n\nclass Net:\n    pass\n\nnp = None\n")
    assert result.messages == [] and "a = 42" not in result.text and "np = None" not in result.text


def test_the_released_stubs_are_regions_of_the_same_keys():
    released = stub_regions(SCAFFOLD)
    assert region_keys(released.splitlines()) == region_keys(SCAFFOLD.splitlines())


# ---------------------------------------------------------------------------- course-era files

COURSE_NET = f'''from __future__ import print_function

from builtins import range
from builtins import object
import numpy as np
from past.builtins import xrange


class TwoLayerNet(object):
    """A two-layer fully-connected neural network (the classic assignment's own layout)."""

    def __init__(self, input_size, hidden_size, output_size, std=1e-4):
        self.params = {{}}
        self.params['W1'] = std * np.random.randn(input_size, hidden_size)
        self.params['b1'] = np.zeros(hidden_size)
        self.params['W2'] = std * np.random.randn(hidden_size, output_size)
        self.params['b2'] = np.zeros(output_size)

    def loss(self, X, y=None, reg=0.0):
        W1, b1 = self.params['W1'], self.params['b1']
        W2, b2 = self.params['W2'], self.params['b2']
        N, D = X.shape

        scores = None
        {S}
        hidden = np.maximum(0, X.dot(W1) + b1)
        scores = hidden.dot(W2) + b2
        {E}

        if y is None:
            return scores

        loss = None
        {S}
        shifted = scores - np.max(scores, axis=1, keepdims=True)
        probs = np.exp(shifted) / np.sum(np.exp(shifted), axis=1, keepdims=True)
        loss = -np.sum(np.log(probs[np.arange(N), y])) / N
        loss += reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        {E}

        grads = {{}}
        {S}
        dscores = probs.copy()
        dscores[np.arange(N), y] -= 1
        dscores /= N
        grads['W2'] = hidden.T.dot(dscores) + 2 * reg * W2
        grads['b2'] = np.sum(dscores, axis=0)
        dhidden = dscores.dot(W2.T)
        dhidden[hidden <= 0] = 0
        grads['W1'] = X.T.dot(dhidden) + 2 * reg * W1
        grads['b1'] = np.sum(dhidden, axis=0)
        {E}

        return loss, grads

    def train(self, X, y, X_val, y_val,
              learning_rate=1e-3, learning_rate_decay=0.95,
              reg=5e-6, num_iters=100,
              batch_size=200, verbose=False):
        num_train = X.shape[0]
        iterations_per_epoch = max(num_train / batch_size, 1)

        loss_history = []
        train_acc_history = []
        val_acc_history = []

        for it in range(num_iters):
            X_batch = None
            y_batch = None
            {S}
            idx = np.random.choice(num_train, batch_size, replace=True)
            X_batch = X[idx]
            y_batch = y[idx]
            {E}
            loss, grads = self.loss(X_batch, y=y_batch, reg=reg)
            loss_history.append(loss)
            {S}
            for name in self.params:
                self.params[name] -= learning_rate * grads[name]
            {E}
            if verbose and it % 100 == 0:
                print('iteration %d / %d: loss %f' % (it, num_iters, loss))
            if it % iterations_per_epoch == 0:
                train_acc = (self.predict(X_batch) == y_batch).mean()
                val_acc = (self.predict(X_val) == y_val).mean()
                train_acc_history.append(train_acc)
                val_acc_history.append(val_acc)
                learning_rate *= learning_rate_decay

        return {{
          'loss_history': loss_history,
          'train_acc_history': train_acc_history,
          'val_acc_history': val_acc_history,
        }}

    def predict(self, X):
        y_pred = None
        {S}
        y_pred = np.argmax(self.loss(X), axis=1)
        {E}
        return y_pred
'''


def course_layers(reference):
    """The kit's layer regions in a course-style file: course signatures, no kit keywords."""
    from kit.student.regions import find_regions
    lines = reference.splitlines()
    bodies = {}
    for (s, e), key in zip(find_regions(lines), region_keys(lines)):
        bodies[key[0]] = "\n".join(lines[s + 1:e]).replace("if compute_dx:\n        dx", "if True:\n        dx")
    header = "from builtins import range\nimport numpy as np\nfrom past.builtins import xrange\n\n\n"
    out = [header]
    for name, args, before, after in [
        ("affine_forward", "x, w, b", "    out = None\n", "    cache = (x, w, b)\n    return out, cache\n"),
        ("affine_backward", "dout, cache", "    x, w, b = cache\n    dx, dw, db = None, None, None\n",
         "    return dx, dw, db\n"),
        ("relu_forward", "x", "    out = None\n", "    cache = x\n    return out, cache\n"),
        ("relu_backward", "dout, cache", "    dx, x = None, cache\n", "    return dx\n"),
        ("svm_loss", "x, y", "    loss, dx = None, None\n", "    return loss, dx\n"),
        ("softmax_loss", "x, y", "    loss, dx = None, None\n", "    return loss, dx\n"),
    ]:
        body = bodies[name]
        if name == "affine_forward":
            body = "    D = int(np.prod(x.shape[1:]))\n" + body
        out.append(f'def {name}({args}):\n    """The course\'s docstring."""\n{before}'
                   f"    {S}\n{body}\n    {E}\n{after}\n\n")
    return "".join(out)


@pytest.mark.skipif(locate_bwrap() is None, reason="grading needs bubblewrap (apt-get install bubblewrap)")
def test_course_era_files_get_exactly_what_their_regions_earn(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    ref = fx.reference_files()
    course = dict(ref)
    course[fx.NET] = COURSE_NET.encode()
    course[fx.LAYERS] = course_layers(ref[fx.LAYERS].decode()).encode()
    fx.write_zip(subs / "course_era.zip", course)
    run = grade(subs, out, limits=Limits(cell_timeout=10), log=lambda *a: None)
    row = run.rows[0]
    results = json.loads((out / "course_era" / "results.json").read_text())
    assert float(row["score"]) == float(row["max_score"]) > 0, json.dumps(results, indent=1)[:4000]
    assert "whole file" not in results["output"]


def course_net_with_helpers():
    """The course-era net with lambdas written between the given lines and its first region."""
    text = COURSE_NET.replace("        N, D = X.shape\n", """        N, D = X.shape
        relu = lambda z: np.maximum(0, z)
        softmax = lambda s: np.exp(s - s.max(axis=1, keepdims=True)) / np.sum(
            np.exp(s - s.max(axis=1, keepdims=True)), axis=1, keepdims=True)
""")
    text = text.replace("hidden = np.maximum(0, X.dot(W1) + b1)", "hidden = relu(X.dot(W1) + b1)")
    return text.replace("""        shifted = scores - np.max(scores, axis=1, keepdims=True)
        probs = np.exp(shifted) / np.sum(np.exp(shifted), axis=1, keepdims=True)
""", "        probs = softmax(scores)\n")


@pytest.mark.skipif(locate_bwrap() is None, reason="grading needs bubblewrap (apt-get install bubblewrap)")
def test_helpers_outside_the_regions_and_a_top_level_folder_lose_nothing(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    ref = fx.reference_files()
    helpers = dict(ref)
    helpers[fx.NET] = course_net_with_helpers().encode()
    assert b"probs = softmax(scores)" in helpers[fx.NET]
    fx.write_zip(subs / "helpers.zip", helpers)
    fx.write_zip(subs / "folder.zip", {f"assignment1/{rel}": data for rel, data in helpers.items()})
    run = grade(subs, out, limits=Limits(cell_timeout=10), log=lambda *a: None, dedupe=False)
    for row in run.rows:
        results = json.loads((out / row["student"] / "results.json").read_text())
        assert float(row["score"]) == float(row["max_score"]) > 0, json.dumps(results, indent=1)[:4000]
        assert "kept your definitions outside the regions: relu (line" in results["output"]
        assert "softmax (line" in results["output"]
    folder = json.loads((out / "folder" / "results.json").read_text())
    assert "folder assignment1/ of the zip" in folder["output"]
