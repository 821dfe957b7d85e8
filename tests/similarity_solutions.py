"""Solutions of the layer regions written for the similarity tests, each in its own style.

They are written for these tests (not taken from the course or from public
repositories): three independent solutions (B, C, D; the kit's reference is a
fourth), a copy of B with its variables renamed, its layout changed and its
independent statements reordered, and a copy of C (the "public" one) with its
names changed.
"""
B = {
    "affine_forward": """
    N = x.shape[0]
    x2d = np.reshape(x, (N, -1))
    out = np.dot(x2d, w) + b
""",
    "affine_backward": """
    N = x.shape[0]
    flat = np.reshape(x, (N, -1))
    dw = np.dot(flat.T, dout)
    db = np.sum(dout, axis=0)
    dx = np.reshape(np.dot(dout, w.T), x.shape)
""",
    "relu_forward": """
    out = x.copy()
    out[out < 0] = 0
""",
    "relu_backward": """
    dx = dout.copy()
    dx[x <= 0] = 0
""",
    "svm_loss": """
    num = x.shape[0]
    correct = x[np.arange(num), y]
    margin = np.maximum(0, x - correct[:, np.newaxis] + 1)
    margin[np.arange(num), y] = 0
    loss = np.sum(margin) / num
    positive = np.sum(margin > 0, axis=1)
    dx = np.zeros_like(x)
    dx[margin > 0] = 1
    dx[np.arange(num), y] -= positive
    dx = dx / num
""",
    "softmax_loss": """
    num = x.shape[0]
    z = x - np.max(x, axis=1, keepdims=True)
    log_sum = np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    log_p = z - log_sum
    p = np.exp(log_p)
    loss = -np.sum(log_p[np.arange(num), y]) / num
    dx = p.copy()
    dx[np.arange(num), y] -= 1
    dx = dx / num
""",
}

B_COPY = {   # B renamed, reformatted, independent statements reordered
    "affine_forward": """
    n_rows = x.shape[ 0 ]
    x_matrix = np.reshape( x, ( n_rows, -1 ) )
    out = np.dot( x_matrix, w ) + b
""",
    "affine_backward": """
    n_rows = x.shape[0]
    db = np.sum(dout,
                axis = 0)
    x_matrix = np.reshape(x, (n_rows, -1))
    dx = np.reshape(np.dot(dout, w.T),
                    x.shape)
    dw = np.dot(x_matrix.T, dout)
""",
    "relu_forward": """
    out = x.copy()
    out[out<0] = 0
""",
    "relu_backward": """
    dx = dout.copy()
    dx[x<=0] = 0
""",
    "svm_loss": """
    count = x.shape[0]
    dx = np.zeros_like(x)
    true_scores = x[np.arange(count), y]
    m = np.maximum(0, x - true_scores[:, np.newaxis] + 1)
    m[np.arange(count), y] = 0
    loss = np.sum(m) / count
    n_pos = np.sum(m > 0, axis=1)
    dx[m > 0] = 1
    dx[np.arange(count), y] -= n_pos
    dx = dx / count
""",
    "softmax_loss": """
    count = x.shape[0]
    shifted_scores = x - np.max(x, axis=1, keepdims=True)
    lse = np.log(np.sum(np.exp(shifted_scores), axis=1, keepdims=True))
    log_probs = shifted_scores - lse
    probs = np.exp(log_probs)
    loss = -np.sum(log_probs[np.arange(count), y]) / count
    dx = probs.copy()
    dx[np.arange(count), y] -= 1
    dx = dx / count
""",
}

C = {
    "affine_forward": """
    flat = x.reshape(x.shape[0], -1)
    out = flat.dot(w)
    for j in range(b.shape[0]):
        out[:, j] += b[j]
""",
    "affine_backward": """
    flat = x.reshape(x.shape[0], -1)
    dx = dout.dot(w.T).reshape(*x.shape)
    dw = flat.T.dot(dout)
    db = np.zeros(w.shape[1])
    for i in range(dout.shape[0]):
        db += dout[i]
""",
    "relu_forward": """
    out = np.where(x > 0, x, 0.0)
""",
    "relu_backward": """
    dx = np.where(x > 0, dout, 0.0)
""",
    "svm_loss": """
    loss = 0.0
    dx = np.zeros(x.shape)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            if j == y[i]:
                continue
            m = x[i, j] - x[i, y[i]] + 1
            if m > 0:
                loss += m
                dx[i, j] += 1
                dx[i, y[i]] -= 1
    loss /= x.shape[0]
    dx /= x.shape[0]
""",
    "softmax_loss": """
    loss = 0.0
    dx = np.zeros_like(x)
    for i in range(x.shape[0]):
        s = x[i] - np.max(x[i])
        e = np.exp(s)
        p = e / e.sum()
        loss -= np.log(p[y[i]])
        dx[i] = p
        dx[i, y[i]] -= 1
    loss /= x.shape[0]
    dx /= x.shape[0]
""",
}

C_COPY = {name: body.replace("flat", "rows2d").replace("for i ", "for n ").replace("[i", "[n")
          .replace("y[i]", "y[n]").replace("(i", "(n") for name, body in C.items()}

D = {
    "affine_forward": """
    batch = x.shape[0]
    out = x.reshape(batch, np.prod(x.shape[1:])).dot(w) + b.reshape(1, -1)
""",
    "affine_backward": """
    batch = x.shape[0]
    db = dout.sum(0)
    dw = x.reshape(batch, -1).T.dot(dout)
    dx = dout.dot(w.T).reshape(x.shape)
""",
    "relu_forward": """
    out = x * (x > 0)
""",
    "relu_backward": """
    mask = (x > 0).astype(float)
    dx = mask * dout
""",
    "svm_loss": """
    n = len(y)
    scores_y = x[range(n), y].reshape(-1, 1)
    hinge = np.clip(x - scores_y + 1.0, 0, None)
    hinge[range(n), y] = 0.0
    loss = hinge.sum() / n
    indicator = (hinge > 0) * 1.0
    indicator[range(n), y] = -indicator.sum(axis=1)
    dx = indicator / n
""",
    "softmax_loss": """
    n = len(y)
    probs = np.exp(x - x.max(axis=1).reshape(-1, 1))
    probs = probs / probs.sum(axis=1).reshape(-1, 1)
    loss = np.mean(-np.log(probs[range(n), y]))
    grad = probs
    grad[range(n), y] -= 1.0
    dx = grad / n
""",
}


def layers_with(reference, bodies):
    """The text of layers.py with the region of each function replaced by bodies[function]."""
    from kit.student.regions import find_regions, region_keys

    lines = reference.splitlines()
    out, last = [], 0
    for (s, e), (name, _) in zip(find_regions(lines), region_keys(lines)):
        out += lines[last:s + 1]
        out += bodies[name].strip("\n").splitlines() if name in bodies else lines[s + 1:e]
        last = e
    out += lines[last:]
    return "\n".join(out) + "\n"
