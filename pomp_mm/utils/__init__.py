from .cli import CliError

__all__ = ['CliError']
