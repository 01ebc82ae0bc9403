"""Console URLs of the keys app (AWS's console paths are fragments; these are real paths)."""

from django.urls import path

from . import actions, create_views, detail_views, views

app_name = "keys"
urlpatterns = [
    path("keys", views.customer_managed_keys, name="customer_managed_keys"),
    path("keys/create", create_views.create_key, name="create_key"),
    path("keys/preferences", views.key_table_preferences, name="key_table_preferences"),
    path("keys/<uuid:key_id>", detail_views.key_policy, name="key_detail"),
    # Key actions (kms-spec.md 8.4) and the detail tabs (8.3): keys/actions.py, detail_views.py
    path("keys/actions", actions.key_actions, name="key_actions"),
    path("keys/deletion-confirmation", actions.deletion_confirmation,
         name="deletion_confirmation"),
    path("keys/<uuid:key_id>/enable", actions.key_enable, name="key_enable"),
    path("keys/<uuid:key_id>/disable", actions.key_disable, name="key_disable"),
    path("keys/<uuid:key_id>/schedule-deletion", actions.key_schedule_deletion,
         name="key_schedule_deletion"),
    path("keys/<uuid:key_id>/cancel-deletion", actions.key_cancel_deletion,
         name="key_cancel_deletion"),
    path("keys/<uuid:key_id>/policy", detail_views.key_policy, name="key_policy"),
    path("keys/<uuid:key_id>/policy/edit", detail_views.key_policy_edit, name="key_policy_edit"),
    path("keys/<uuid:key_id>/policy/validate", detail_views.key_policy_validate,
         name="key_policy_validate"),
    path("keys/<uuid:key_id>/policy/default", detail_views.key_policy_default,
         name="key_policy_default"),
    path("keys/<uuid:key_id>/description/edit", detail_views.key_description_edit,
         name="key_description_edit"),
    path("keys/<uuid:key_id>/crypto", detail_views.key_crypto, name="key_crypto"),
    path("keys/<uuid:key_id>/tags", detail_views.key_tags, name="key_tags"),
    path("keys/<uuid:key_id>/tags/edit", detail_views.key_tags_edit, name="key_tags_edit"),
    path("keys/<uuid:key_id>/aliases", detail_views.key_aliases, name="key_aliases"),
    path("keys/<uuid:key_id>/aliases/create", detail_views.key_alias_create,
         name="key_alias_create"),
    path("keys/<uuid:key_id>/aliases/delete", detail_views.key_alias_delete,
         name="key_alias_delete"),
    path("keys/<uuid:key_id>/public-key", detail_views.key_public_key, name="key_public_key"),
    path("keys/<uuid:key_id>/public-key/download", detail_views.key_public_key_download,
         name="key_public_key_download"),
    path("keys/<uuid:key_id>/grants", detail_views.key_grants, name="key_grants"),
    path("keys/<uuid:key_id>/grants/create", detail_views.key_grant_create,
         name="key_grant_create"),
    path("keys/<uuid:key_id>/grants/revoke", detail_views.key_grant_revoke,
         name="key_grant_revoke"),
    path("defaultKeys", views.aws_managed_keys, name="aws_managed_keys"),
    path("aliases", views.aliases, name="aliases"),
    path("custom-key-stores", views.custom_key_stores, name="custom_key_stores"),
    path("custom-key-stores/cloudhsm", views.custom_key_stores, {"kind": "cloudhsm"},
         name="cloudhsm_key_stores"),
    path("custom-key-stores/external", views.custom_key_stores, {"kind": "external"},
         name="external_key_stores"),
]
