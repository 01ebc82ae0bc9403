"""Console sign-in: account (id or alias) + IAM user name + password."""

from django.contrib.auth.backends import BaseBackend
from django.db.models import Q

from .models import User


class IAMUserBackend(BaseBackend):
    def authenticate(self, request, account=None, username=None, password=None, **kwargs):
        if not (account and username and password):
            return None
        user = (
            User.objects.filter(Q(account__id=account) | Q(account__alias=account), name=username)
            .select_related("account")
            .first()
        )
        if user is None:
            # Threat: telling "no such user" apart from "wrong password" by timing.
            User().set_password(password)
            return None
        if user.is_active and user.check_password(password):
            return user
        return None

    def get_user(self, user_id):
        # The account comes along: every console page shows its id and alias in the top bar.
        return User.objects.select_related("account").filter(pk=user_id, is_active=True).first()
