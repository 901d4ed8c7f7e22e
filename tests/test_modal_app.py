"""The Modal app module: same body as local scoring, settings applied, no network on import,
and a container built from its image has everything `score_chunk` imports."""
from __future__ import annotations

import importlib.metadata as md
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from backend import modal_app
from backend.payload import decode_result, score_payload
from fake_modal import FakeModal, sample_payloads

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def payload() -> bytes:
    return sample_payloads()[0]


def _python(code: str, env: dict[str, str], cwd: Path = ROOT) -> dict:
    """Run `code` in a fresh interpreter (settings and modal config are read at import)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MODAL_", "REWARDPILOT_"))}
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env}, cwd=cwd,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_local_body_equals_score_payload(payload):
    got, _ = decode_result(modal_app.score_chunk.local(payload))
    want, _ = decode_result(score_payload(payload))
    assert len(got) > 0
    pd.testing.assert_frame_equal(got, want)


def test_settings_shape_the_function_and_import_makes_no_call():
    fake = FakeModal().start()   # tokens point here: any network use on import would show in its log
    try:
        env = {"MODAL_SERVER_URL": fake.url, "MODAL_TOKEN_ID": fake.token_id,
               "MODAL_TOKEN_SECRET": fake.token_secret, "REWARDPILOT_MODAL_APP": "rp-test",
               "REWARDPILOT_MODAL_CPU": "2", "REWARDPILOT_MODAL_MEMORY_MIB": "2048",
               "REWARDPILOT_MODAL_TIMEOUT_S": "300", "REWARDPILOT_MODAL_RETRIES": "4",
               "REWARDPILOT_MODAL_MAX_CONTAINERS": "7", "REWARDPILOT_MODAL_SCALEDOWN_S": "15"}
        got = _python(
            "import json; from backend import modal_app as m; i = m.score_chunk.info();"
            "o = m.function_options(m.settings);"
            "print(json.dumps([m.app.name, i.cpu, i.memory_mib, i.timeout, i.max_retries, o['max_containers'],"
            " o['scaledown_window']]))",
            env)
        assert got == ["rp-test", 2.0, 2048, 300, 4, 7, 15]
        assert fake.rpc_log == []
    finally:
        fake.stop()


def test_defaults_and_no_retries_without_a_token():
    got = _python("import json; from backend import modal_app as m; i = m.score_chunk.info();"
                  "print(json.dumps([m.app.name, i.cpu, i.memory_mib, i.timeout, i.max_retries]))",
                  {"REWARDPILOT_MODAL_RETRIES": "0", "MODAL_CONFIG_PATH": "/nonexistent/.modal.toml"})
    assert got == ["rewardpilot-batch", 1.0, 1024, 600, None]


def test_runtime_pins_match_this_environment():
    """The container gets the versions the local executor uses (and Python 3.11)."""
    required = (ROOT / "requirements.txt").read_text().split()
    for pin in modal_app.RUNTIME_DEPS:
        name, version = pin.split("==")
        assert md.version(name) == version, pin
        assert pin in required, f"{pin} is not pinned in requirements.txt"
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == modal_app.PYTHON_VERSION


def _allowed_distributions() -> set[str]:
    """Pinned runtime deps + modal (Modal installs its client in every image), with their deps."""
    todo = [pin.split("==")[0] for pin in modal_app.RUNTIME_DEPS] + ["modal"]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = md.requires(name) or []
        except md.PackageNotFoundError:  # a requirement for another platform / Python
            continue
        todo += [re.match(r"[A-Za-z0-9._-]+", r).group() for r in requires if "extra ==" not in r]
    return seen


def test_container_has_what_score_chunk_imports(tmp_path, payload):
    """Mimic the image: only backend's .py files (add_local_python_source's default) + pinned deps.

    Runs the real body there and checks every third-party module it loaded is installable
    from the image's pins, so a new import in the scoring path cannot break remote runs.
    """
    shutil.copytree(ROOT / "backend", tmp_path / "backend",
                    ignore=lambda d, names: [n for n in names if n == "__pycache__"
                                             or (not n.endswith(".py") and not (Path(d) / n).is_dir())])
    (tmp_path / "payload.bin").write_bytes(payload)
    got = _python(
        "import json, sys; from pathlib import Path; from backend.modal_app import score_chunk;"
        "Path('result.bin').write_bytes(score_chunk.local(Path('payload.bin').read_bytes()));"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))",
        {"PYTHONPATH": str(tmp_path)}, cwd=tmp_path)
    result, _ = decode_result((tmp_path / "result.bin").read_bytes())
    pd.testing.assert_frame_equal(result, decode_result(score_payload(payload))[0])

    owners = md.packages_distributions()
    runtime_internals = ("_", "cython_runtime")
    third_party = [m for m in got if m not in sys.stdlib_module_names and m != "backend"
                   and not m.startswith(runtime_internals)]
    allowed = _allowed_distributions()
    missing = {m: owners.get(m) for m in third_party
               if not any(re.sub(r"[-_.]+", "-", d).lower() in allowed for d in owners.get(m, []))}
    assert missing == {}, f"score_chunk imports modules the Modal image does not install: {missing}"
