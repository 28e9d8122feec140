"""The experiment's configuration: the typed schema (`schema`, with how layers merge) and how
secrets are kept out of it (`secrets`). Loading an experiment, which needs the roles (model
presets, strategy options, DeepSpeed rules), is `hpo.run.experiment`."""
