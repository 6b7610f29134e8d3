"""The Being-H0.5 model: config, Mixture-of-Transformers network, checkpoint IO and policy.

Import the pieces from their modules (``h05.config``, ``h05.modeling.being_h05``,
``h05.checkpoint``, ``h05.policy``); this package file stays import-light.
"""
