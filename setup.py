"""Build the Cython codec when possible; fall back to the pure-Python twin.

``ZKFAST_NO_EXTENSIONS=1`` skips the compile. If Cython or a C compiler is
missing the install still succeeds with the pure backend and says so
(``zkfast.codec.backend`` then reports ``"python"``).
"""

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext


def _wants_extensions() -> bool:
    return os.environ.get("ZKFAST_NO_EXTENSIONS", "") in ("", "0")


class OptionalBuildExt(build_ext):
    """A failed compile is a warning, not a failed install."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any toolchain failure
            self._warn(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self._warn(exc)

    @staticmethod
    def _warn(exc):
        sys.stderr.write(
            "\n*** zkfast: could not compile the Cython codec (%s).\n"
            "*** Installing the pure-Python codec instead: it works, only slower.\n\n" % exc)


def _extensions():
    if not _wants_extensions():
        sys.stderr.write("zkfast: ZKFAST_NO_EXTENSIONS set, building the pure-Python codec only\n")
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        sys.stderr.write("zkfast: Cython not available, building the pure-Python codec only\n")
        return []
    from setuptools import Extension
    pyx = os.path.join("src", "zkfast", "_codec.pyx")
    if not os.path.exists(pyx):
        sys.stderr.write("zkfast: %s missing, building the pure-Python codec only\n" % pyx)
        return []
    ext = Extension("zkfast._codec", [pyx],
                    extra_compile_args=["-O2"] if os.name != "nt" else [])
    return cythonize([ext], language_level=3, compiler_directives={
        "boundscheck": False, "wraparound": False, "cdivision": True,
        "initializedcheck": False, "embedsignature": True,
    })


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
