"""Export a model for deployment: ONNX, TorchScript or OpenVINO IR, with its labels and preprocessing, and
verified against the eager model on a real window (`slowfast export`). See `export.formats` and
`export.verify`."""
