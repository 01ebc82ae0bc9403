"""Console URLs of IAM (users, roles, policies, account settings, policy simulator), under
/iam/. The AWS IAM console's paths are fragments; these are real paths."""

app_name = "iam"
urlpatterns: list = []
