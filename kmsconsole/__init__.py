"""kmsconsole: a self-hosted key management service with the AWS KMS API and console."""

from kmsconsole.celery import app as celery_app

__all__ = ["celery_app"]
