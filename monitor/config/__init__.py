"""The YAML file that declares what PortalWatch watches, validated before anything starts."""

from monitor.config.loader import ConfigError, load_config, parse_config
from monitor.config.model import ComponentConfig, Config, PageConfig, ReliefConfig, iana_zone

__all__ = [
    "ComponentConfig",
    "Config",
    "ConfigError",
    "PageConfig",
    "ReliefConfig",
    "iana_zone",
    "load_config",
    "parse_config",
]
