"""Typed, validated environment configuration: the only input the app reads."""

from config.loader import ConfigError, available_environments, load_environment
from config.model import EnvironmentConfig

__all__ = ["ConfigError", "EnvironmentConfig", "available_environments", "load_environment"]
