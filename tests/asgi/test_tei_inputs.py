"""TEI 1.9.3's input rules, in process: empty inputs, token ids, mixed batches, /tokenize.

Numbers come from the real MiniLM runner; the text path they are compared with is itself
checked against sentence-transformers in tests/e2e.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from tests.harness.asgi import InProcessClient, in_process
from tests.model_factory import cross_encoder, minilm_dir
from tests.reference import cosine


@pytest.fixture(scope="module")
def client() -> Iterator[InProcessClient]:
    with in_process(None, real_runner=True) as server:
        yield server.client


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessClient]:
    model = cross_encoder(tmp_path_factory.mktemp("classifier"), 3)
    with in_process(model) as server:
        yield server.client


def minilm_ids(text: str, special: bool = True) -> list[int]:
    tokenizer = Tokenizer.from_file(str(Path(minilm_dir()) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return list(tokenizer.encode(text, add_special_tokens=special).ids)


def embed(client: InProcessClient, inputs: object) -> np.ndarray:
    response = client.post("/embed", json={"inputs": inputs})
    assert response.status_code == 200, response.text
    return np.asarray(response.json())


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/embed", {"inputs": ""}),
        ("/embed", {"inputs": ["a text", ""]}),
        ("/embed_all", {"inputs": ""}),
        ("/tokenize", {"inputs": ["fine", ""]}),
        ("/invocations", {"inputs": ""}),
    ],
)
def test_empty_strings_are_400_empty(client: InProcessClient, path: str, body: object) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 400, response.text
    assert response.json() == {"error": "`inputs` cannot be empty", "error_type": "Empty"}


def test_empty_string_on_openai_route_is_teis_flat_400(client: InProcessClient) -> None:
    response = client.post("/v1/embeddings", json={"input": ["x", ""]})
    assert response.status_code == 400
    assert response.json() == {"message": "`inputs` cannot be empty", "code": 400, "type": "Empty"}


def test_empty_string_on_predict_is_400(classifier: InProcessClient) -> None:
    for inputs in ("", [[""]], [["a"], [""]]):
        response = classifier.post("/predict", json={"inputs": inputs})
        assert response.status_code == 400, (inputs, response.text)
        assert response.json()["error_type"] == "Empty"
    # A pair is empty only when both of its texts are (TEI's rule).
    assert classifier.post("/predict", json={"inputs": [["a", ""]]}).status_code == 200


def test_token_ids_are_embedded_as_given(client: InProcessClient) -> None:
    text = "Token ids reach the model as they are."
    with_specials = minilm_ids(text)
    assert (with_specials[0], with_specials[-1]) == (101, 102)  # [CLS] ... [SEP]
    # The ids the tokenizer would make are the text's embedding ...
    np.testing.assert_allclose(embed(client, with_specials), embed(client, text), atol=1e-5)
    # ... and ids without [CLS]/[SEP] get none added: a different input, a different vector.
    bare = embed(client, minilm_ids(text, special=False))[0]
    assert cosine(bare, embed(client, text)[0]) < 0.999


def test_a_batch_may_mix_texts_and_token_ids(client: InProcessClient) -> None:
    texts = ["first as text", "second as ids"]
    mixed = embed(client, [texts[0], minilm_ids(texts[1])])
    np.testing.assert_allclose(mixed, embed(client, texts), atol=1e-5)
    openai = client.post("/v1/embeddings", json={"input": [minilm_ids(texts[0]), texts[1]]})
    assert openai.status_code == 200, openai.text
    vectors = [row["embedding"] for row in openai.json()["data"]]
    np.testing.assert_allclose(vectors, embed(client, texts), atol=1e-5)


def test_tokenize_accepts_text_over_the_model_limit(client: InProcessClient) -> None:
    long_text = " ".join(["word"] * 600)
    assert client.post("/embed", json={"inputs": long_text, "truncate": False}).status_code == 422
    response = client.post("/tokenize", json={"inputs": long_text})
    assert response.status_code == 200, response.text
    assert len(response.json()[0]) == 602  # [CLS] + 600 + [SEP], over MiniLM's 256


def test_tokenize_offsets_are_utf8_bytes(client: InProcessClient) -> None:
    text = "naïve café ☕ ok"
    tokens = client.post("/tokenize", json={"inputs": text}).json()[0]
    encoded = text.encode("utf-8")
    words = [t for t in tokens if not t["special"]]
    assert words, tokens
    for token in words:
        piece = encoded[token["start"] : token["stop"]].decode("utf-8")
        assert piece == token["text"], token
    # The last token ends at the last byte, not the last character.
    assert words[-1]["stop"] == len(encoded) != len(text)
