"""Console URLs of the keys app (AWS's console paths are fragments; these are real paths)."""

from django.urls import path

from . import create_views, views

app_name = "keys"
urlpatterns = [
    path("keys", views.customer_managed_keys, name="customer_managed_keys"),
    path("keys/create", create_views.create_key, name="create_key"),
    path("keys/<uuid:key_id>", views.key_detail, name="key_detail"),
    path("defaultKeys", views.aws_managed_keys, name="aws_managed_keys"),
    path("aliases", views.aliases, name="aliases"),
    path("custom-key-stores", views.custom_key_stores, name="custom_key_stores"),
    path("custom-key-stores/cloudhsm", views.custom_key_stores, {"kind": "cloudhsm"},
         name="cloudhsm_key_stores"),
    path("custom-key-stores/external", views.custom_key_stores, {"kind": "external"},
         name="external_key_stores"),
]
