"""Test helpers shipped with the package: contract-test base classes that a new plug-in
subclasses to get the tests every plug-in of its role must pass."""
