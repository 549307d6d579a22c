"""Hand-written convolution and pooling (no torch conv/pool calls), and conv arithmetic.

`reference` keeps the lab's loops for teaching; `functional`/`layers` (and `conv`, `pool`)
are the vectorised, autograd-capable versions the models use; `arithmetic` answers size and
HDC questions without torch. The package re-exports nothing: importing it stays free, and
callers import the submodule they use (`from engine.ops.arithmetic import hdc_check`), so
`cnnlab hdc` and the size tools never load torch.
"""
