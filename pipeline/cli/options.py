"""The command line's building blocks: each setting's flag from pipeline.config, `--domain fit`,
`-q` after a command, Ctrl-C, --model/--label/--checkpoints and the config a command reads."""

from __future__ import annotations

import logging

import click

from pipeline.config import SETTINGS, Config, load_config
from pipeline.sizes import format_size


def setting_option(name: str, *aliases: str, **extra):
    """The flag of a setting (and any other names for it), with its help text, default and type
    from pipeline.config; `extra`: more click.option arguments (multiple=True, ...)."""
    spec = SETTINGS[name]
    help_text = spec.metadata["help"]
    if spec.default is not None:
        joiner = "," if name == "measures" else " "
        shown = joiner.join(map(str, spec.default)) if isinstance(spec.default, tuple) else spec.default
        if name == "max_site_bytes":
            shown = format_size(spec.default).replace(" ", "")
        help_text += f" [default: {shown}]"
    kwargs: dict = {"help": help_text, "metavar": spec.metadata["metavar"]}
    choices = getattr(spec.metadata["check"], "choices", None)
    if choices:
        kwargs["type"] = click.Choice(choices)
    elif name == "domain":  # two numbers, or `fit` (AtlasCommand reads `--domain fit` as two)
        kwargs.update(type=str, nargs=2, callback=_domain_value)
    elif name == "max_site_bytes":
        kwargs["type"] = str  # "1GB", "500MB", "2.5GiB" or bytes: pipeline.sizes.parse_size
    elif isinstance(spec.default, bool | int | float):
        kwargs["type"] = type(spec.default)
    return click.option("--" + name.replace("_", "-"), *aliases, name, **kwargs, **extra)


FIT = "fit"


def _domain_value(ctx: click.Context, param: click.Parameter, value):
    """--domain's two values as the setting takes them: (low, high), or "fit"."""
    if value is None or value == (FIT, FIT):
        return None if value is None else FIT
    try:
        return tuple(float(v) for v in value)
    except ValueError:
        raise click.BadParameter(f"{' '.join(value)}: give two numbers, LOW HIGH (e.g. 0 0.5), "
                                 f"or {FIT} alone", ctx, param) from None


def _domain_args(args: list[str]) -> list[str]:
    """`--domain fit` (or `--domain=fit`) as `--domain fit fit`: a click option takes a fixed
    number of values, and --domain's are two numbers, or the one word (`fit 0.3` is left for
    _domain_value to refuse)."""
    out: list[str] = []
    i = 0
    while i < len(args):
        if args[i] == "--":
            return out + args[i:]
        if args[i] == "--domain=" + FIT or (args[i] == "--domain" and args[i + 1:i + 2] == [FIT]
                                            and not _number(args[i + 2:i + 3])):
            out += ["--domain", FIT, FIT]
            i += 1 if "=" in args[i] else 2
            continue
        out.append(args[i])
        i += 1
    return out


def _number(args: list[str]) -> bool:
    """Whether there is an argument and it is a number."""
    try:
        return bool(args) and float(args[0]) == float(args[0])
    except ValueError:
        return False


class AtlasCommand(click.Command):
    """A command of the group: reads `--domain fit` (see _domain_args) where it has --domain."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """click's parse, after `--domain fit` is spelt as two values."""
        if any(p.name == "domain" for p in self.params):
            args = _domain_args(list(args))
        return super().parse_args(ctx, args)


def setting_options(*names):
    """Apply the named settings' flags to a command."""
    def decorate(func):
        for name in reversed(names):
            func = setting_option(name)(func)
        return func
    return decorate


def _quiet_here(ctx: click.Context, param: click.Parameter, quiet: bool) -> None:
    """`-q` after the command name too (`extract ... -q`), as before it."""
    if quiet:
        logging.getLogger().setLevel(logging.WARNING)
        ctx.obj["progress"] = False  # the group's dict: its callback ran before this parse


QUIET = click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=_quiet_here,
                     help="No progress bars; warnings and the summary only.")


class AtlasGroup(click.Group):
    """The command group: Ctrl-C ends any command with one line and exit code 130 (click's own
    "Aborted!" says neither what was kept nor how to go on); its commands are AtlasCommands."""

    command_class = AtlasCommand

    def invoke(self, ctx: click.Context):
        """Run the command; on Ctrl-C print one line (extract's Interrupted says what it kept)
        and exit 130."""
        from pipeline.errors import Interrupted

        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            click.echo(str(exc) or "interrupted: run the command again to go on", err=True)
            ctx.exit(Interrupted.exit_code)


def model_options(func):
    """--model (repeatable), --label (repeatable, one per --model, in order) and --checkpoints:
    one --model is one model, as ever; more (or any --label) or --checkpoints make a series."""
    func = setting_option("checkpoints")(func)
    func = click.option("--label", "labels", multiple=True, metavar="LABEL",
                        help="The label of each --model of a series, in order (letters, digits, "
                             ". _ -) [default: the model's folder or hub name].")(func)
    return setting_option("model", multiple=True)(func)


def command_config(ctx: click.Context, **flags) -> Config:
    """The config file (--config or ./atlas.toml) overridden by the flags given."""
    from pipeline.errors import ConfigError

    models, labels = flags.pop("model", None) or (), flags.pop("labels", None) or ()
    if labels and len(labels) != len(models):
        raise ConfigError(f"--label: {len(labels)} label(s) for {len(models)} --model(s); give "
                          "one --label per --model, in order, or none")
    if len(models) > 1 or labels:
        flags["models"] = [{"model": m, **({"label": labels[i]} if labels else {})}
                           for i, m in enumerate(models)]
    elif models:
        flags["model"] = models[0]
    return load_config(ctx.obj["config"], flags)
