"""``tasz``: the click group. Each verb lives in its own module and is imported on use.

Every verb parses options and calls the library. Errors that tascodec raises on purpose
(``TaszError``) become one line on stderr and exit status 1, never a traceback.
"""
from __future__ import annotations

import functools
import contextlib
import importlib
import sys
import warnings

import click

from tascodec import __version__
from tascodec.errors import (DuplicateVideos, FrameCountMismatch, MissingActivities, MissingFeatures,
                             OutputExistsError, TaszError)

# verb -> module under tascodec.cli holding a click command named ``cmd``
VERBS = {
    "synth": "synth",
    "encode": "encode",
    "decode": "decode",
    "info": "info",
    "verify": "verify",
    "subset": "subset",
    "merge": "merge",
    "split": "split",
    "eval": "eval",
    "demo": "demo",
    "show": "show",
}
# verbs that train or run models: without torch they say how to install it, in one line
NEEDS_TORCH = {"encode", "eval", "demo"}

# The library's messages name the problem; the CLI adds the flag that changes the outcome.
# (error type, flag the hint names, hint); a verb may word its own hint.
HINTS = (
    (OutputExistsError, "--force", "use -f/--force to replace it"),
    (FrameCountMismatch, "--trim", "use --trim to truncate to the shorter"),
    (DuplicateVideos, "--skip-duplicates", "use --skip-duplicates to keep the first of each"),
    (MissingFeatures, "--labels", "pass the labels folder with --labels if the features live apart"),
    (MissingActivities, "--activity-pattern", "give an activity pattern, e.g. --activity-pattern REGEX"),
)
VERB_HINTS = {("demo", OutputExistsError): "use -f/--force or --out DIR"}


def error_line(e: TaszError, verb: str | None = None) -> str:
    """``e``'s message plus the CLI hint for its type (unless the message names the flag already)."""
    msg = str(e)
    for cls, flag, hint in HINTS:
        if isinstance(e, cls) and flag not in msg:
            return f"{msg} ({VERB_HINTS.get((verb, cls), hint)})"
    return msg


def _torch_missing(e: ImportError) -> bool:
    return (e.name or "").split(".")[0] == "torch"


def _require_torch(cmd: click.Command) -> click.Command:
    """Check for torch before the verb runs (so nothing is half-done), not on ``--help``."""
    if getattr(cmd, "_tasz_needs_torch", False) or cmd.callback is None:
        return cmd
    callback = cmd.callback

    @functools.wraps(callback)
    def run(*args, **kwargs):
        if importlib.util.find_spec("torch") is None:
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        return callback(*args, **kwargs)

    cmd.callback, cmd._tasz_needs_torch = run, True
    return cmd


class LazyGroup(click.Group):
    """Imports a verb's module only when that verb is used (keeps ``tasz --help`` fast)."""

    def list_commands(self, ctx):
        return [v for v in VERBS if _find(v) is not None]

    def get_command(self, ctx, name):
        spec = _find(name)
        if spec is None:
            return None
        cmd = importlib.import_module(f"tascodec.cli.{VERBS[name]}").cmd
        return _require_torch(cmd) if name in NEEDS_TORCH else cmd

    def invoke(self, ctx):
        _ignore_sigxfsz()
        try:
            with _one_line_warnings():
                return super().invoke(ctx)
        except TaszError as e:
            _end_bars()
            click.echo(f"tasz: error: {error_line(e, ctx.invoked_subcommand)}", err=True)
            ctx.exit(1)
        except ImportError as e:
            if not _torch_missing(e):
                raise
            verb = ctx.invoked_subcommand or "this command"
            click.echo(f"tasz {verb} needs PyTorch: pip install 'tascodec[encode]'", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            _end_bars()
            click.echo("tasz: interrupted", err=True)
            ctx.exit(130)


def _ignore_sigxfsz() -> None:
    """Under a file-size limit (``ulimit -f``) a write then fails with EFBIG, which the output helpers
    report as one line naming the output, instead of SIGXFSZ killing the process. (CPython ignores
    SIGXFSZ at start-up; a host that embeds it may not.)"""
    import signal
    import threading

    if hasattr(signal, "SIGXFSZ") and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _end_bars() -> None:
    """Close the progress bars an error left open, so that the error starts on its own line."""
    std = sys.modules.get("tqdm.std")  # no bar was made unless tqdm was imported
    for bar in list(getattr(getattr(std, "tqdm", None), "_instances", ())):
        bar.close()


@contextlib.contextmanager
def _one_line_warnings():
    """While a verb runs: each tascodec warning is printed once, as one line on stderr."""
    from tascodec.errors import TaszWarning

    with warnings.catch_warnings():
        if not sys.warnoptions:  # -W / PYTHONWARNINGS choose for themselves
            warnings.simplefilter("once", TaszWarning)
        python_way = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, TaszWarning):
                click.echo(f"tasz: warning: {message}", err=True)
            else:
                python_way(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


def _find(name):
    if name not in VERBS:
        return None
    return importlib.util.find_spec(f"tascodec.cli.{VERBS[name]}")


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tasz")
def cli():
    """Condense TAS feature datasets into .tasz files and restore them."""


def main(argv=None):
    cli.main(args=argv, prog_name="tasz")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
