"""Client and release side: image URIs per region, building and publishing images.

Importable with the light base install: nothing here imports torch or the server, and
boto3 (the ``deploy`` extra) is imported only when a function needs it.
"""

from .catalog import Catalog, Flavor, Region, Repository, load_catalog
from .errors import DeployError, RegistryUnknown
from .image_uri import get_image_uri

__all__ = [
    "Catalog",
    "DeployError",
    "Flavor",
    "Region",
    "RegistryUnknown",
    "Repository",
    "get_image_uri",
    "load_catalog",
]
