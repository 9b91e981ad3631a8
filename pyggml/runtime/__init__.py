"""Running a model: the forward pass and its hyper-parameters, generation, sampling."""
