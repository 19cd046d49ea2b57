"""Build the Cython codec when possible; fall back to the pure-Python twin.

``ZKFAST_NO_EXTENSIONS=1`` skips the compile. If Cython or a C compiler is
missing the install still succeeds with the pure backend and says so
(``zkfast.codec.backend`` then reports ``"python"``), and the wheel is then
tagged pure (``py3-none-any``): it holds no compiled code.

Saying so is harder than it looks: pip runs a build backend with its stdout and
stderr piped into its own log and shows them only with ``-v`` or when the build
fails (pip 23 through 26 alike), so a warning printed there never reaches a user
running a plain ``pip install``. An unrequested fallback is therefore also
written to the terminal itself (``/dev/tty``, ``CONOUT$`` on Windows) when
stderr is not that terminal already.

Every build starts from an empty ``build/lib*``: ``pip install .`` builds in the
source tree and leaves ``build/`` behind, and whatever an earlier build left in
it (a compiled ``_codec`` after a pure build was asked for, a module deleted
since) would otherwise be packed into the next wheel.
"""

import os
import shutil
import sys

from setuptools import setup

try:  # setuptools >= 62.4
    from setuptools.command.build import build
except ImportError:
    from distutils.command.build import build
from setuptools.command.build_ext import build_ext

try:  # setuptools >= 70.1 (pyproject.toml requires >= 77)
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # an older setuptools running `setup.py build_ext` directly
    bdist_wheel = None

_FALLBACK = (
    "\n*** zkfast: could not compile the Cython codec (%s).\n"
    "*** Installing the pure-Python codec instead: it works, only slower.\n"
    "*** pip may cache this pure wheel (py3-none-any); once a C compiler works, reinstall\n"
    "*** with:  pip install --no-cache-dir --force-reinstall zkfast\n\n"
)

# Why the compiled codec is not being built although nobody asked for that (None: it
# is being built, or ZKFAST_NO_EXTENSIONS said not to). Set before or during the build.
_fallback_reason = None
_warned = False


def _wants_extensions() -> bool:
    return os.environ.get("ZKFAST_NO_EXTENSIONS", "") in ("", "0")


def _to_terminal(message):
    """Write to the controlling terminal, if there is one and stderr is not it."""
    try:
        if sys.stderr.isatty():
            return  # stderr is the terminal: the message is already there
    except (AttributeError, ValueError):
        pass
    try:
        with open("CONOUT$" if os.name == "nt" else "/dev/tty", "w") as tty:
            tty.write(message)
    except OSError:
        pass  # no terminal (CI, cron, a service): the build log has it


def _warn_fallback(reason):
    """The fallback notice, once per build: on stderr (build logs, ``pip -v``) and
    on the terminal (plain ``pip install``)."""
    global _warned
    if _warned:
        return
    _warned = True
    message = _FALLBACK % reason
    sys.stderr.write(message)
    sys.stderr.flush()
    _to_terminal(message)


class OptionalBuildExt(build_ext):
    """A failed compile is a warning, not a failed install; the extension is then
    dropped from the build, so the wheel comes out pure."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any toolchain failure
            self._drop(*self.extensions)
            self._fail(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self._drop(ext)
            self._fail(exc)

    def _drop(self, *exts):
        # New lists, not in-place removal: build_extensions is iterating the old one.
        # What is left decides the wheel's purity (has_ext_modules), what `install`
        # copies, and what an editable install copies back into the source tree.
        self.extensions = [e for e in self.extensions if e not in exts]
        self.distribution.ext_modules = [e for e in self.distribution.ext_modules or [] if e not in exts]

    @staticmethod
    def _fail(exc):
        global _fallback_reason
        _fallback_reason = str(exc) or type(exc).__name__
        _warn_fallback(_fallback_reason)


class FreshBuild(build):
    """Empties build_lib before building into it (see the module docstring)."""

    def run(self):
        base = os.path.abspath(self.build_base)
        lib = os.path.abspath(self.build_lib)
        if lib.startswith(base + os.sep) and os.path.isdir(lib):
            shutil.rmtree(lib)
        super().run()
        if _fallback_reason is not None:
            _warn_fallback(_fallback_reason)  # Cython or the .pyx was missing


cmdclass = {"build": FreshBuild, "build_ext": OptionalBuildExt}

if bdist_wheel is not None:
    class PureIfNothingCompiled(bdist_wheel):
        """Tags the wheel by what the build produced, not by what setup() planned:
        bdist_wheel decides ``root_is_pure`` in finalize_options, before the build
        runs, and would tag a fallback wheel cp3XX-<platform>. Read after the build
        (as bdist_wheel.run does), this says pure once the extension was dropped."""

        @property
        def root_is_pure(self):
            return not (self.distribution.has_ext_modules() or self.distribution.has_c_libraries())

        @root_is_pure.setter
        def root_is_pure(self, value):
            pass  # finalize_options' early guess; the property above answers

    cmdclass["bdist_wheel"] = PureIfNothingCompiled


def _extensions():
    global _fallback_reason
    if not _wants_extensions():
        sys.stderr.write("zkfast: ZKFAST_NO_EXTENSIONS set, building the pure-Python codec only\n")
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        sys.stderr.write("zkfast: Cython not available, building the pure-Python codec only\n")
        _fallback_reason = "Cython is not installed"
        return []
    from setuptools import Extension
    pyx = os.path.join("src", "zkfast", "_codec.pyx")
    if not os.path.exists(pyx):
        sys.stderr.write(f"zkfast: {pyx} missing, building the pure-Python codec only\n")
        _fallback_reason = f"{pyx} is missing"
        return []
    ext = Extension("zkfast._codec", [pyx],
                    extra_compile_args=["-O2"] if os.name != "nt" else [])
    return cythonize([ext], language_level=3, compiler_directives={
        "boundscheck": False, "wraparound": False, "cdivision": True,
        "initializedcheck": False, "embedsignature": True,
    })


setup(ext_modules=_extensions(), cmdclass=cmdclass)
