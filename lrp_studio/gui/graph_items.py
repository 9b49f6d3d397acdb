"""Moved: the graph's Qt-free data model is :mod:`lrp_studio.viz.graph_scene`.

Kept as an alias while other GUI modules still import from here (``gui.inspector``); import
from :mod:`lrp_studio.viz.graph_scene` instead.
"""

from lrp_studio.viz.graph_edges import aggregate_messages
from lrp_studio.viz.graph_scene import FLAT_INPUT_DOTS, SCENE_HEIGHT, Column, Connection, GraphLayout, build_layout

__all__ = ["Column", "Connection", "GraphLayout", "build_layout", "aggregate_messages", "FLAT_INPUT_DOTS",
           "SCENE_HEIGHT"]
