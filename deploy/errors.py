"""The deploy side's errors. Each message is one line that says what failed and what to do;
the command line prints it as is and exits 1 (usage errors are ValueErrors: exit 2).

    DeployError
     ├── RegistryUnknown   no registry to resolve an image URI against
     ├── AwsError          an AWS call failed (credentials, network, permissions)
     └── PublishError      a build, login, push or read-back failed
"""

from __future__ import annotations


class DeployError(Exception):
    """A deploy-side operation could not be done."""


class RegistryUnknown(DeployError):
    """Neither an argument, the environment nor STS said which registry holds the images."""


class AwsError(DeployError):
    """An AWS API call failed; the message names the call and AWS's own reason."""


class PublishError(DeployError):
    """A step of building, logging in, pushing or checking failed; the message says which."""
