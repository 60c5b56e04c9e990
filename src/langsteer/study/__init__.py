"""A study from its configuration: data checked before the model loads, one pass per model
state, every method measured on the same sentences, results written as one consistent set."""
