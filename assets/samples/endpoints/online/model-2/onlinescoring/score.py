"""Scoring script for the model-2 sample: the Azure ML init()/run() contract."""

import json
import logging
import os

import joblib
import numpy

model = None


def init():
    """Load the model once per worker; AZUREML_MODEL_DIR points at the staged model version."""
    global model
    model_path = os.path.join(os.environ["AZUREML_MODEL_DIR"], "model", "sklearn_regression_model.pkl")
    model = joblib.load(model_path)
    logging.info("model-2: init complete")


def run(raw_data):
    """Predict for a JSON body {"data": [[10 features], ...]}; returns one prediction per row."""
    logging.info("model-2: request received")
    rows = numpy.array(json.loads(raw_data)["data"])
    result = model.predict(rows)
    logging.info("model-2: request processed")
    return result.tolist()
