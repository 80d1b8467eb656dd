"""Model registry: versioned artifact folders, manifests, promote / rollback / canary / shadow."""

from tastemaker.registry.artifacts import ServingArtifacts
from tastemaker.registry.manifest import Manifest, feature_schema, feature_schema_hash
from tastemaker.registry.registry import Canary, ModelRegistry, RegistryState, in_canary

__all__ = [
    "Canary",
    "Manifest",
    "ModelRegistry",
    "RegistryState",
    "ServingArtifacts",
    "feature_schema",
    "feature_schema_hash",
    "in_canary",
]
