"""Training: the build of a method's agent (``build``), its updates (``optim``, ``turns``), the online loop
(``loop``), real play (``collect``), checkpoints and run folders (``checkpoint``, ``run``, ``run_folder``),
devices and speed switches (``device``, ``speed``)."""
