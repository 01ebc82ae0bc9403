"""Console URLs of IAM (users, roles, policies, account settings, policy simulator), under
/iam/. The AWS IAM console's paths are fragments; these are real paths."""

from django.urls import path

from . import (
    account_views,
    mfa_views,
    password_views,
    policy_views,
    role_views,
    simulator_views,
    switch_role_views,
    user_credential_views,
    user_views,
)

app_name = "iam"
urlpatterns: list = [
    # Roles (grants/role_views.py). A role's pages sit under details/, so that no role name
    # (create, for one) can hide a page of the list.
    path("roles", role_views.roles_list, name="roles"),
    path("roles/create", role_views.role_create, name="role_create"),
    path("roles/details/<str:name>", role_views.role_detail, name="role_detail"),
    path("roles/details/<str:name>/trust", role_views.role_trust, name="role_trust"),
    path("roles/details/<str:name>/trust/edit", role_views.role_trust_edit,
         name="role_trust_edit"),
    path("roles/details/<str:name>/edit", role_views.role_edit, name="role_edit"),
    path("roles/details/<str:name>/audit", role_views.role_audit, name="role_audit"),
    path("roles/details/<str:name>/attach", role_views.role_attach, name="role_attach"),
    path("roles/details/<str:name>/detach", role_views.role_detach, name="role_detach"),
    path("roles/details/<str:name>/inline/create", role_views.role_inline_create,
         name="role_inline_create"),
    path("roles/details/<str:name>/inline/<str:policy_name>/edit",
         role_views.role_inline_edit, name="role_inline_edit"),
    path("roles/details/<str:name>/inline/<str:policy_name>/delete",
         role_views.role_inline_delete, name="role_inline_delete"),
    path("roles/details/<str:name>/delete", role_views.role_delete, name="role_delete"),
    # Managed policies (grants/policy_views.py): customer managed under details/<name>, the
    # built-in AWS managed ones under aws/<name>.
    path("policies", policy_views.policies, name="policies"),
    path("policies/create", policy_views.policy_create, name="policy_create"),
    path("policies/validate", policy_views.policy_validate, name="policy_validate"),
    path("policies/details/<str:name>", policy_views.policy_detail, name="policy_detail"),
    path("policies/details/<str:name>/edit", policy_views.policy_edit, name="policy_edit"),
    path("policies/details/<str:name>/versions", policy_views.policy_versions,
         name="policy_versions"),
    path("policies/details/<str:name>/versions/default", policy_views.policy_version_default,
         name="policy_version_default"),
    path("policies/details/<str:name>/versions/delete", policy_views.policy_version_delete,
         name="policy_version_delete"),
    path("policies/details/<str:name>/entities", policy_views.policy_entities,
         name="policy_entities"),
    path("policies/details/<str:name>/entities/attach", policy_views.policy_entities_attach,
         name="policy_entities_attach"),
    path("policies/details/<str:name>/entities/detach", policy_views.policy_entities_detach,
         name="policy_entities_detach"),
    path("policies/details/<str:name>/delete", policy_views.policy_delete,
         name="policy_delete"),
    path("policies/aws/<str:name>", policy_views.policy_detail, {"aws_managed": True},
         name="aws_policy_detail"),
    path("policies/aws/<str:name>/entities", policy_views.policy_entities,
         {"aws_managed": True}, name="aws_policy_entities"),
    path("policies/aws/<str:name>/entities/attach", policy_views.policy_entities_attach,
         {"aws_managed": True}, name="aws_policy_entities_attach"),
    path("policies/aws/<str:name>/entities/detach", policy_views.policy_entities_detach,
         {"aws_managed": True}, name="aws_policy_entities_detach"),
    # Switch role / Switch back, from the top bar's user menu (grants/switch_role_views.py).
    path("switch-role", switch_role_views.switch_role, name="switch_role"),
    path("switch-role/back", switch_role_views.switch_back, name="switch_back"),
    # Users (grants/user_views.py; the Security credentials tab in
    # grants/user_credential_views.py). A user's pages sit under details/, like a role's, so
    # that no user name (create, for one) can hide a page of the list.
    path("users", user_views.users_list, name="users"),
    path("users/create", user_views.user_create, name="user_create"),
    path("users/details/<str:name>", user_views.user_detail, name="user_detail"),
    path("users/details/<str:name>/attach", user_views.user_attach, name="user_attach"),
    path("users/details/<str:name>/detach", user_views.user_detach, name="user_detach"),
    path("users/details/<str:name>/inline/create", user_views.user_inline_create,
         name="user_inline_create"),
    path("users/details/<str:name>/inline/<str:policy_name>/edit", user_views.user_inline_edit,
         name="user_inline_edit"),
    path("users/details/<str:name>/inline/<str:policy_name>/delete", user_views.user_inline_delete,
         name="user_inline_delete"),
    path("users/details/<str:name>/security-credentials",
         user_credential_views.user_security_credentials, name="user_security_credentials"),
    path("users/details/<str:name>/console-access", user_credential_views.user_console_access,
         name="user_console_access"),
    path("users/details/<str:name>/access-keys/create", user_credential_views.access_key_create,
         name="access_key_create"),
    path("users/details/<str:name>/access-keys/<str:access_key_id>/status",
         user_credential_views.access_key_status, name="access_key_status"),
    path("users/details/<str:name>/access-keys/<str:access_key_id>/delete",
         user_credential_views.access_key_delete, name="access_key_delete"),
    path("users/details/<str:name>/access", user_views.user_access, name="user_access"),
    path("users/details/<str:name>/audit", user_views.user_audit, name="user_audit"),
    path("users/details/<str:name>/delete", user_views.user_delete, name="user_delete"),
    # A user's MFA device (grants/mfa_views.py).
    path("users/details/<str:name>/mfa", mfa_views.user_mfa, name="user_mfa"),
    path("users/details/<str:name>/mfa/assign", mfa_views.mfa_assign, name="mfa_assign"),
    path("users/details/<str:name>/mfa/enable", mfa_views.mfa_enable, name="mfa_enable"),
    path("users/details/<str:name>/mfa/remove", mfa_views.mfa_remove, name="mfa_remove"),
    # Change password: the signed-in user's own (grants/password_views.py).
    path("change-password", password_views.change_password, name="change_password"),
    # Account settings: alias and password policy (grants/account_views.py).
    path("account-settings", account_views.account_settings_page, name="account_settings"),
    path("account-settings/alias", account_views.account_alias_save, name="account_alias_save"),
    path("account-settings/alias/delete", account_views.account_alias_delete,
         name="account_alias_delete"),
    path("account-settings/password-policy", account_views.password_policy_edit,
         name="password_policy_edit"),
    # Policy simulator (grants/simulator_views.py).
    path("policy-simulator", simulator_views.policy_simulator, name="policy_simulator"),
]
