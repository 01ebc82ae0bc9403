"""URL map: the console pages, /healthz, and the AWS KMS JSON API on POST /."""

from django.urls import include, path

from grants import views as grants_views

from . import health, views

urlpatterns = [
    path("", views.root, name="root"),
    path("healthz", health.healthz, name="healthz"),
    path("signin", grants_views.signin, name="signin"),
    path("signout", grants_views.signout, name="signout"),
    path("console/region", views.region_select, name="region_select"),
    path("kms/", include("keys.urls")),
    path("iam/", include("grants.urls")),
    path("cloudtrail/", include("audit.urls")),
]
