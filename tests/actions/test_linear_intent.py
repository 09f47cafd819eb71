"""The linear intent classifier as Rasa runs it: trained, stored, loaded back, used in the pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from rasa_components.linear_intent import LinearIntentClassifier, softmax

EXAMPLES = {
    "greet": ["oi", "olá, bom dia", "boa tarde", "opa tudo bem", "e ai blz", "bom dia pessoal"],
    "pay_pix": [
        "quero pagar no pix",
        "vou pagar à vista no pix",
        "manda o pix",
        "pago via pix hj",
        "pix pfv",
    ],
    "request_installments": [
        "quero parcelar",
        "da pra dividir em 10x?",
        "parcela em dez vezes",
        "posso pagar parcelado",
        "dividir em 6 parcelas",
    ],
}


def _training_data() -> TrainingData:
    return TrainingData(
        [
            Message(data={"text": text, "intent": intent})
            for intent, texts in EXAMPLES.items()
            for text in texts
        ]
    )


def _context() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), node_name="linear")


@pytest.fixture
def storage(tmp_path: Path) -> LocalModelStorage:
    return LocalModelStorage(tmp_path)


def _trained(storage: LocalModelStorage, resource: Resource) -> LinearIntentClassifier:
    component = LinearIntentClassifier.create({}, storage, resource, _context())
    component.train(_training_data())
    return component


def _parse(component: LinearIntentClassifier, *texts: str) -> list[Message]:
    return component.process([Message(data={"text": t}) for t in texts])


def test_classifies_unseen_spellings_of_trained_intents(storage: LocalModelStorage) -> None:
    component = _trained(storage, Resource("linear"))
    messages = _parse(component, "qro parcelar em 12x", "opa, bom dia!", "pode mandar o pix")
    assert [m.get("intent")["name"] for m in messages] == ["request_installments", "greet", "pay_pix"]
    for message in messages:
        ranking = message.get("intent_ranking")
        assert ranking[0] == message.get("intent")
        confidences = [r["confidence"] for r in ranking]
        assert confidences == sorted(confidences, reverse=True)
        assert sum(confidences) == pytest.approx(1.0)
        assert message.as_dict(only_output_properties=True)["intent"] == message.get("intent")


def test_a_message_like_no_training_example_gets_a_flat_ranking(storage: LocalModelStorage) -> None:
    component = _trained(storage, Resource("linear"))
    known, gibberish = _parse(component, "quero parcelar em 10x", "zzkw qqhj")
    assert known.get("intent")["confidence"] > 0.99
    # Three intents here, so even a flat ranking has a top of 1/3; the trained model's
    # gibberish falling back is tested end to end (tests/e2e/test_negotiation_flows.py).
    assert gibberish.get("intent")["confidence"] < 0.6


def test_stored_model_loads_back_with_identical_rankings(storage: LocalModelStorage) -> None:
    resource = Resource("linear")
    trained = _trained(storage, resource)
    loaded = LinearIntentClassifier.load({}, storage, resource, _context())
    texts = ["quero parcelar em 10x", "bom diaa", "manda o pix ai", "nada a ver"]
    for before, after in zip(_parse(trained, *texts), _parse(loaded, *texts), strict=True):
        assert after.get("intent_ranking") == before.get("intent_ranking")


def test_model_files_hold_no_pickles(storage: LocalModelStorage, tmp_path: Path) -> None:
    resource = Resource("linear")
    _trained(storage, resource)
    arrays = list(tmp_path.rglob("*.npy"))
    assert arrays, "the model's arrays are stored as .npy files"
    for path in arrays:
        np.load(path, allow_pickle=False)  # raises on an object array


def test_untrained_component_leaves_messages_alone(storage: LocalModelStorage) -> None:
    component = LinearIntentClassifier.load({}, storage, Resource("never-trained"), _context())
    (message,) = _parse(component, "oi")
    assert message.get("intent") is None


def test_one_intent_is_not_enough_to_train(storage: LocalModelStorage) -> None:
    component = LinearIntentClassifier.create({}, storage, Resource("linear"), _context())
    component.train(TrainingData([Message(data={"text": "oi", "intent": "greet"})]))
    (message,) = _parse(component, "oi")
    assert message.get("intent") is None


def test_empty_text_is_not_classified(storage: LocalModelStorage) -> None:
    component = _trained(storage, Resource("linear"))
    (message,) = _parse(component, "")
    assert message.get("intent") is None


def test_softmax_is_shift_invariant_and_sharpened_by_temperature() -> None:
    scores = np.array([[1.0, 0.0, -1.0]])
    assert softmax(scores + 100, 1.0) == pytest.approx(softmax(scores, 1.0))
    assert softmax(scores, 0.1)[0, 0] > softmax(scores, 1.0)[0, 0]


SCORED_TEXTS = [
    "quero parcelar em 10x",
    "QUERO   Parcelar,  em 10X!!",  # case, punctuation and runs of spaces
    "pix pix pix pix",  # repeated n-grams: sublinear tf
    "parcela parcela e pix",
    "zzkw qqhj",  # no word n-gram in the vocabulary, a few character ones
    "a",  # shorter than the character n-grams
    "ação à vista já",  # accents are kept, as in training
    "😀",  # no word n-gram; of the character ones only the spaces around it
    "oi " * 60,
]


@pytest.mark.parametrize("loaded", [False, True], ids=["trained", "loaded"])
def test_hand_rolled_features_equal_scikit_learns_transform(storage: LocalModelStorage, loaded: bool) -> None:
    resource = Resource("linear")
    component = _trained(storage, resource)
    if loaded:
        component = LinearIntentClassifier.load({}, storage, resource, _context())
    fast = component.scores(SCORED_TEXTS)
    reference = component.reference_scores(SCORED_TEXTS)
    assert fast.shape == reference.shape == (len(SCORED_TEXTS), len(EXAMPLES))
    np.testing.assert_allclose(fast, reference, rtol=1e-12, atol=1e-12)
