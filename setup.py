"""Ship the report notebooks and the nbconvert template as package data.

They live at the top of the checkout (notebooks/, templates/), where JupyterLab and nbval use
them; a wheel carries them inside the package as incidentlab/reports/notebooks/ and
incidentlab/reports/templates/, read with importlib.resources (incidentlab.reports.paths). All
other metadata is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SHIPPED = {"notebooks": "*.ipynb", "templates": "incidentlab/*"}


class build_py_with_reports(build_py):  # noqa: N801 (setuptools command naming)
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "incidentlab" / "reports"
        for folder, pattern in SHIPPED.items():
            for source in sorted((HERE / folder).glob(pattern)):
                if source.is_file():
                    dest = target / folder / source.relative_to(HERE / folder)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, dest)


setup(cmdclass={"build_py": build_py_with_reports})
