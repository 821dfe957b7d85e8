"""Release: the student kit, written from the instructor source.

- student_kit.py: `python -m kit release DIR`, the whole kit, refused when it would leak;
- manifest.py: which files ship (an explicit list, never "whatever is in the tree");
- student_notebook.py: the student version of a notebook (solutions stubbed, hidden cells removed);
- leaks.py: lines of the reference solution found in a released kit;
- student_root/: the README and pytest.ini that replace the instructor's at the kit's root.
"""
