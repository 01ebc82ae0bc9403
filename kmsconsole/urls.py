"""URL map: the console pages, /healthz, and the AWS KMS JSON API on POST /."""

from django.urls import path

from . import health, views

urlpatterns = [
    path("", views.root, name="root"),
    path("healthz", health.healthz, name="healthz"),
]
