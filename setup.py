"""The optional compiled parts; everything else is declared in pyproject.toml.

The extensions are accelerators with a pure-Python path beside them, so a machine without a C compiler
(or a build that fails) still installs ctxbudget: the failure is reported and the build goes on.
``CTXBUDGET_NO_EXTENSIONS=1`` skips them on purpose.
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

FLAGS = ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"]


class OptionalBuildExt(build_ext):
    """Build each extension if possible; a failure leaves the pure-Python path in charge."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler at all (DistutilsPlatformError and friends)
            self._skip("all extensions", exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # CompileError, LinkError, a missing Python.h ...
            self._skip(ext.name, exc)

    @staticmethod
    def _skip(what: str, exc: BaseException) -> None:
        print(f"warning: not building {what} ({exc}); ctxbudget uses its pure-Python path", file=sys.stderr)


extensions = [
    Extension("ctxbudget._core", sources=["src/ctxbudget/_core.c"], extra_compile_args=FLAGS),
    Extension("ctxbudget.tokenizers._guard", sources=["src/ctxbudget/tokenizers/_guard.c"], extra_compile_args=FLAGS),
    Extension("ctxbudget.tokenizers._claude_core", sources=["src/ctxbudget/tokenizers/_claude_core.c"],
              extra_compile_args=FLAGS),
]

setup(
    ext_modules=[] if os.environ.get("CTXBUDGET_NO_EXTENSIONS") else extensions,
    cmdclass={"build_ext": OptionalBuildExt},
)
