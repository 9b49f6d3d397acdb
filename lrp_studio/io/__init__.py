"""Files: model files (.npz + JSON, never pickle), imported ONNX/state-dict models, relevance export,
input arrays; all saves atomic."""

from lrp_studio.io.atomic import atomic_write
from lrp_studio.io.export import load_input, load_input_npy, save_relevance_csv, save_relevance_npy
from lrp_studio.io.importing import MissingModelInfo, import_model
from lrp_studio.io.model import load_model, save_model

__all__ = [
    "MissingModelInfo", "atomic_write", "import_model", "load_input", "load_input_npy", "load_model", "save_model",
    "save_relevance_csv", "save_relevance_npy",
]
