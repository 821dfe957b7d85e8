"""Writing a file atomically: whoever reads it sees the old file or the new one, never a part."""
import os
import tempfile


def atomic_write(path, write):
    """
    Write the file at path in one step, as far as its readers can tell.

    The content goes to a temporary file in the same folder (named
    ``.tmp-<random>-<file name>``), which then replaces path with os.replace.
    A reader, or a run stopped half-way (an error, a full disk, Ctrl-C), thus
    finds either the file as it was before or the whole new file. On any
    failure the temporary file is removed and the exception raised again.
    The new file has mode 0o644 (readable by everyone, writable by its owner),
    whatever the mode of the file it replaces.

    Inputs:
    - path: Path of the file to write (str or os.PathLike); its folder must
      exist and be writable.
    - write: Function called as write(f), with f the temporary file opened
      for writing in binary mode; it writes the whole content, e.g.
      ``lambda f: np.save(f, X)`` or ``lambda f: f.write(text.encode())``.

    Returns:
    - path, as given.

    Raises whatever making, writing or renaming the temporary file raises
    (OSError when the folder is missing or not writable), and whatever write
    raises.
    """
    name = os.fspath(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(name)), prefix=".tmp-",
                               suffix="-" + os.path.basename(name))
    try:
        with os.fdopen(fd, "wb") as f:
            os.chmod(tmp, 0o644)  # mkstemp makes it 0o600
            write(f)
        os.replace(tmp, name)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
