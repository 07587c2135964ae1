"""SageMaker Python SDK v3 with our image; run by the v3 venv's python (see sdk_v3.py).

``python v3_local_endpoint.py IMAGE MODEL_DATA_URL PORT LABEL`` prints one JSON object:

- ``model_builder``: a ``sagemaker.serve.ModelBuilder`` built (constructed, not
  ``build()``-ed: that and ``deploy()`` create the model and endpoint in AWS) with our
  ``image_uri``, ``env_vars`` and an S3 model archive, and the fields it kept;
- ``vectors``: the answer of an endpoint that v3's local mode really served:
  ``sagemaker.core.local.LocalSession``'s ``create_model`` -> ``create_endpoint_config``
  -> ``create_endpoint`` -> ``invoke_endpoint`` (the same calls as boto3's SageMaker and
  SageMaker Runtime clients, which is what ``sagemaker.core.resources`` makes in AWS).

It imports nothing from this repository: the v3 venv has neither our package nor v2.
"""

from __future__ import annotations

import json
import sys
from typing import Any

TELEMETRY_OFF = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}
ROLE = "arn:aws:iam::111111111111:role/dummy"
NAME = "sagemaker-embeddings-v3"
TEXTS = ["What is Deep Learning?", "Deploy with the SageMaker SDK v3"]


class LoopbackPort(int):
    """Publishes local mode's serving port on 127.0.0.1 only (see conftest.py)."""

    def __str__(self) -> str:
        return f"127.0.0.1:{int(self)}"


def model_builder(image: str) -> dict[str, Any]:
    from sagemaker.core.helper.session_helper import Session
    from sagemaker.serve import ModelBuilder
    from sagemaker.serve.mode.function_pointers import Mode

    builder = ModelBuilder(
        image_uri=image,
        s3_model_data_url="s3://my-bucket/models/all-minilm-l6-v2/model.tar.gz",
        env_vars={"HF_MODEL_ID": "/opt/ml/model"},
        role_arn=ROLE,
        instance_type="ml.c7i.xlarge",
        mode=Mode.SAGEMAKER_ENDPOINT,
        sagemaker_session=Session(sagemaker_config=TELEMETRY_OFF),
    )
    return {
        "image_uri": builder.image_uri,
        "env_vars": builder.env_vars,
        "instance_type": builder.instance_type,
        "mode": builder.mode.name,
        "region": builder.region,
    }


def local_endpoint(image: str, model_data: str, port: int, label: str) -> Any:
    from sagemaker.core.local import LocalSession

    session = LocalSession(sagemaker_config=TELEMETRY_OFF, default_bucket="local-mode-bucket")
    session.config = {
        "local": {
            "local_code": True,
            "serving_port": LoopbackPort(port),
            "container_config": {"labels": {label: "1"}},
        }
    }
    client = session.sagemaker_client
    client.create_model(
        ModelName=NAME,
        PrimaryContainer={
            "Image": image,
            "ModelDataUrl": model_data,
            "Environment": {"HF_MODEL_ID": "/opt/ml/model", "DTYPE": "float32"},
        },
    )
    client.create_endpoint_config(
        EndpointConfigName=NAME,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": NAME,
                "InitialInstanceCount": 1,
                "InstanceType": "local",
            }
        ],
    )
    client.create_endpoint(EndpointName=NAME, EndpointConfigName=NAME)
    try:
        answer = session.sagemaker_runtime_client.invoke_endpoint(
            Body=json.dumps({"inputs": TEXTS}),
            EndpointName=NAME,
            ContentType="application/json",
            Accept="application/json",
        )
        return json.loads(answer["Body"].read())
    finally:
        client.delete_endpoint(EndpointName=NAME)


def main(argv: list[str]) -> int:
    image, model_data, port, label = argv[1:5]
    result = {
        "model_builder": model_builder(image),
        "vectors": local_endpoint(image, model_data, int(port), label),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
