"""Using a trained run: predict, evaluate on other data, explain the errors, export, and
hand its curves to TensorBoard.

One module per job, all built on `loading.load_run`, which turns a run folder into a model
in eval mode with exactly the preprocessing the run trained with. Nothing is imported here,
so `import engine.use.predict` pulls in only what prediction needs (Captum, onnx and
tensorboard are imported by the functions that use them).
"""
