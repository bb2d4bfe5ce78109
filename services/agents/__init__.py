"""Where agents plug in: tool definitions generated from the catalog and the models."""
