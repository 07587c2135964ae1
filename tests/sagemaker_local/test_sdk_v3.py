"""SageMaker Python SDK v3 with our image, in its own venv (v2 and v3 are both ``sagemaker``).

Proven here: v3's ``ModelBuilder`` accepts our ``image_uri`` and env (constructed
offline, not built: ``build()``/``deploy()`` call AWS), and v3's own local mode
(``sagemaker.core.local.LocalSession``: create_model, create_endpoint_config,
create_endpoint, invoke_endpoint) serves the real image with MiniLM, checked against
sentence-transformers. ``ModelBuilder(mode=Mode.LOCAL_CONTAINER)`` is not run: it always
``docker pull``s the image and waits a fixed 1200 s for health (this-machine.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.harness.ports import free_port
from tests.reference import assert_close_rows, st_encode
from tests.sagemaker_local.conftest import ModelData, remove_labelled_containers
from tests.sagemaker_local.sdk_v3 import ensure_v3_venv

pytestmark = [pytest.mark.container, pytest.mark.sagemaker_local, pytest.mark.slow]

SCRIPT = Path(__file__).with_name("v3_local_endpoint.py")


@pytest.mark.timeout(2400)  # the first run installs SDK v3 (about 10 minutes here)
def test_v3_model_builder_and_local_endpoint(
    cpu_image: str, model_data: ModelData, model_dirs: dict[str, Path]
) -> None:
    python = ensure_v3_venv()
    label = f"sagemaker-embeddings-v3-{uuid.uuid4().hex[:8]}"
    port = free_port()
    try:
        done = subprocess.run(
            [str(python), str(SCRIPT), cpu_image, model_data("embedder"), str(port), label],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env=dict(os.environ),  # the offline AWS environment of conftest.py
        )
    finally:
        remove_labelled_containers(label)
    assert done.returncode == 0, done.stderr[-5000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["model_builder"] == {
        "image_uri": cpu_image,
        "env_vars": {"HF_MODEL_ID": "/opt/ml/model"},
        "instance_type": "ml.c7i.xlarge",
        "mode": "SAGEMAKER_ENDPOINT",
        "region": "us-west-2",
    }
    texts = ["What is Deep Learning?", "Deploy with the SageMaker SDK v3"]
    assert_close_rows(result["vectors"], st_encode(model_dirs["embedder"], texts))
