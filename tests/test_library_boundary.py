import pkgutil
import subprocess
import sys

import gan_aug


def test_library_never_imports_prefect():
    """Every gan_aug module imports without pulling in Prefect (the CLI loads flows lazily)."""
    modules = [m.name for m in pkgutil.walk_packages(gan_aug.__path__, "gan_aug.")]
    assert "gan_aug.train" in modules and "gan_aug.cli" in modules
    code = f"import importlib, sys; [importlib.import_module(m) for m in {modules!r}]; print('prefect' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"
