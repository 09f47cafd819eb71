"""A linear intent classifier for short WhatsApp messages: TF-IDF n-grams and a linear SVM.

Why not DIET alone: on this training data (~3 700 short, misspelt, abbreviated messages in ~25
intents) DIET's intent head tops out at a macro-F1 of ~0.89 in 3-fold cross-validation, whatever
its size, epochs or features; a linear SVM over word (1–2) and character (1–5, within word
boundaries) TF-IDF n-grams scores ~0.93 on the same folds, trains in seconds and classifies in well
under a millisecond (README, "NLU"). The entities come from regexes (data/nlu/entities.yml), so the
pipeline has no DIET and no Rasa featurizer: this component computes its own features.

Confidences are a softmax over the SVM's margins divided by ``temperature``: a message close to
one intent's training examples gets a confidence near 1, one that matches none of them (gibberish,
a language the bot does not speak) a flat ranking, which the FallbackClassifier after this
component turns into ``nlu_fallback``.

The model is stored as JSON (vocabularies, settings) and ``.npy`` arrays read without pickle, so
loading a model file never runs code from it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import scipy.sparse as sp
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

logger = logging.getLogger(__name__)

_MODEL_FILE = "linear_intent.json"
_TOKENS = r"(?u)\b\w+\b"  # one-letter words count: "q", "vc" and "x" carry meaning here


def _vectorizers(config: dict[str, Any]) -> list[TfidfVectorizer]:
    word_min, word_max = config["word_ngrams"]
    char_min, char_max = config["char_ngrams"]
    return [
        TfidfVectorizer(
            analyzer="word", ngram_range=(word_min, word_max), token_pattern=_TOKENS, sublinear_tf=True
        ),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(char_min, char_max), sublinear_tf=True),
    ]


def softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    scaled = scores / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearIntentClassifier(GraphComponent, IntentClassifier):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "word_ngrams": [1, 2],
            "char_ngrams": [1, 5],
            # The SVM's regularisation: 1.0 was best of 0.2/0.5/1.0 in cross-validation.
            "C": 1.0,
            # 0.2 rejects about as much gibberish as DIET did (FallbackClassifier at 0.45) and
            # falls back on ~4 % of real messages in cross-validation (DIET: ~3 %); 0.1 lets
            # most gibberish through as some intent.
            "temperature": 0.2,
            "ranking_length": 10,
        }

    @staticmethod
    def required_packages() -> list[str]:
        return ["sklearn"]

    def __init__(self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._vectorizers: list[TfidfVectorizer] = []
        self._classes: list[str] = []
        self._coef = np.zeros((0, 0))
        self._intercept = np.zeros(0)
        self._scorer: _NgramScorer | None = None

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LinearIntentClassifier:
        return cls(config, model_storage, resource)

    # -- training ----------------------------------------------------------------------

    def train(self, training_data: TrainingData) -> Resource:
        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        intents = {e.get(INTENT) for e in examples}
        if len(intents) < 2:
            logger.warning("LinearIntentClassifier needs at least two intents; not trained")
            return self._resource
        texts = [_normalise(e.get(TEXT)) for e in examples]
        labels = [e.get(INTENT) for e in examples]
        self._vectorizers = _vectorizers(self.config)
        features = sp.hstack([v.fit_transform(texts) for v in self._vectorizers]).tocsr()
        svm = LinearSVC(C=float(self.config["C"]), random_state=0)
        svm.fit(features, labels)
        self._classes = [str(c) for c in svm.classes_]
        self._coef = np.asarray(svm.coef_, dtype=np.float64)
        self._intercept = np.asarray(svm.intercept_, dtype=np.float64)
        self._scorer = None
        self.persist()
        return self._resource

    # -- inference ---------------------------------------------------------------------

    def scores(self, texts: list[str]) -> np.ndarray:
        """The SVM's margin for every intent (rows: texts, columns: ``self._classes``)."""
        if self._scorer is None:
            self._scorer = _NgramScorer(self._vectorizers, self._coef, self._intercept)
        return np.vstack([self._scorer.score(_normalise(t)) for t in texts])

    def reference_scores(self, texts: list[str]) -> np.ndarray:
        """The same margins through scikit-learn's own transform (what ``scores`` must equal)."""
        features = sp.hstack([v.transform([_normalise(t) for t in texts]) for v in self._vectorizers]).tocsr()
        return np.asarray(features @ self._coef.T) + self._intercept

    def process(self, messages: list[Message]) -> list[Message]:
        if not self._classes:
            return messages
        texts = [m.get(TEXT) for m in messages]
        if not any(texts):
            return messages
        probabilities = softmax(self.scores([t or "" for t in texts]), float(self.config["temperature"]))
        keep = int(self.config["ranking_length"]) or len(self._classes)
        for message, text, row in zip(messages, texts, probabilities, strict=True):
            if not text:
                continue
            order = np.argsort(-row)[:keep]
            ranking = [{"name": self._classes[i], "confidence": float(row[i])} for i in order]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages

    # -- storage -----------------------------------------------------------------------

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as directory:
            model = {
                "classes": self._classes,
                "vectorizers": [
                    {"vocabulary": {k: int(v) for k, v in vec.vocabulary_.items()}}
                    for vec in self._vectorizers
                ],
            }
            (directory / _MODEL_FILE).write_text(json.dumps(model, ensure_ascii=False), encoding="utf-8")
            np.save(directory / "coef.npy", self._coef, allow_pickle=False)
            np.save(directory / "intercept.npy", self._intercept, allow_pickle=False)
            for i, vec in enumerate(self._vectorizers):
                np.save(directory / f"idf_{i}.npy", np.asarray(vec.idf_), allow_pickle=False)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> LinearIntentClassifier:
        component = cls(config, model_storage, resource)
        try:
            with model_storage.read_from(resource) as directory:
                model = json.loads((directory / _MODEL_FILE).read_text(encoding="utf-8"))
                component._coef = np.load(directory / "coef.npy", allow_pickle=False)
                component._intercept = np.load(directory / "intercept.npy", allow_pickle=False)
                vectorizers = _vectorizers(component.config)
                for i, (vec, stored) in enumerate(zip(vectorizers, model["vectorizers"], strict=True)):
                    vec.vocabulary = stored["vocabulary"]
                    vec.idf_ = np.load(directory / f"idf_{i}.npy", allow_pickle=False)
                component._vectorizers = vectorizers
                component._classes = list(model["classes"])
                component._scorer = _NgramScorer(vectorizers, component._coef, component._intercept)
        except (ValueError, FileNotFoundError):
            # Rasa loads every component of the graph, trained or not (e.g. no intents yet).
            logger.debug("LinearIntentClassifier: no trained model in %s", resource.name)
        return component


class _NgramScorer:
    """TF-IDF features and the SVM's margins for one message, without building sparse matrices.

    scikit-learn's ``transform`` of one short message costs ~3 ms in input checks and sparse-matrix
    construction, for a few dozen n-grams; this does the same arithmetic (the vectorizer's own
    analyzer, counts of in-vocabulary n-grams, ``1 + log(tf)``, idf, L2 norm per vectorizer, the
    dot product with the SVM's weights) in a few hundred microseconds. ``reference_scores`` is the
    scikit-learn path, and the tests hold the two equal.
    """

    def __init__(self, vectorizers: list[TfidfVectorizer], coef: np.ndarray, intercept: np.ndarray) -> None:
        self._parts: list[tuple[Any, dict[str, int], np.ndarray, int]] = []
        offset = 0
        for vec in vectorizers:
            vocabulary = vec.vocabulary_ if hasattr(vec, "vocabulary_") else vec.vocabulary
            idf = np.asarray(vec.idf_, dtype=np.float64)
            self._parts.append((vec.build_analyzer(), dict(vocabulary), idf, offset))
            offset += len(idf)
        # Rows by feature, so one message's few features are a cheap row gather.
        self._weights = np.ascontiguousarray(coef.T)
        self._intercept = intercept

    def score(self, text: str) -> np.ndarray:
        columns: list[np.ndarray] = []
        values: list[np.ndarray] = []
        for analyze, vocabulary, idf, offset in self._parts:
            counts: dict[int, int] = {}
            for gram in analyze(text):
                j = vocabulary.get(gram)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            if not counts:
                continue
            index = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            weight = (np.log(tf) + 1.0) * idf[index]
            weight /= np.sqrt(weight @ weight)
            columns.append(index + offset)
            values.append(weight)
        if not columns:
            return self._intercept.copy()
        return np.concatenate(values) @ self._weights[np.concatenate(columns)] + self._intercept


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())
