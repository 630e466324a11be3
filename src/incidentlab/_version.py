"""The package version, in its own module: any module can import it without the package facade."""

__version__ = "0.1.0"
