"""URL map: the console pages, /healthz, /metrics, and the AWS KMS JSON API on POST /."""

from django.urls import include, path

from grants import views as grants_views

from . import health, metrics, views

urlpatterns = [
    path("", views.root, name="root"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("signin", grants_views.signin, name="signin"),
    path("signout", grants_views.signout, name="signout"),
    path("console/region", views.region_select, name="region_select"),
    path("kms/", include("keys.urls")),
    path("iam/", include("grants.urls")),
    path("cloudtrail/", include("audit.urls")),
]
