"""The model store: trained networks with their cards, in MLflow or on disk.

``load`` (a model by URI, what analysis needs), ``registry`` (registered names, versions,
aliases), ``mlflow_model`` (the MLflow flavour, safetensors weights), ``checkpoint`` (Lightning
checkpoints read without unpickling), ``trained`` (the loaded model with its preprocessing),
``tracking`` (where MLflow tracks).
"""
