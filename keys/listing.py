"""Console listings through the one door: the key tables and the custom key store list.

The AWS console fills its key tables with ListKeys and ListAliases (and DescribeKey per row);
here one page is one ListKeys and one ListAliases decision and audit event each, and a single
selector reads the page, so the page costs the same few queries for 3 keys or 10,000.
Filtering by tag reveals tag values, so a tag filter also needs kms:ListResourceTags.
"""

from audit.recording import operation
from grants.authorization import authorize
from grants.principals import Caller

from . import selectors
from .models import MANAGER_AWS, MANAGER_CUSTOMER
from .selectors import KeyFilter, KeyPage


def key_table(*, caller: Caller, aws_managed: bool = False, key_filter: KeyFilter,
              sort: str = selectors.DEFAULT_KEY_SORT, descending: bool = False, page: int = 1,
              page_size: int = selectors.DEFAULT_PAGE_SIZE) -> KeyPage:
    """A page of the customer managed (or AWS managed) keys of the caller's account and region,
    with their aliases; AccessDeniedError unless kms:ListKeys and kms:ListAliases are allowed."""
    with operation(caller, "ListKeys", read_only=True,
                   request_parameters={"limit": page_size}):
        authorize(caller, "kms:ListKeys")
        if key_filter.tag:
            authorize(caller, "kms:ListResourceTags", resource_account_id=caller.account_id,
                      resource_arn=f"arn:aws:kms:{caller.region}:{caller.account_id}:key/*")
    with operation(caller, "ListAliases", read_only=True,
                   request_parameters={"limit": page_size}):
        authorize(caller, "kms:ListAliases")
    return selectors.key_page(account_id=caller.account_id, region=caller.region,
                              key_manager=MANAGER_AWS if aws_managed else MANAGER_CUSTOMER,
                              key_filter=key_filter, sort=sort, descending=descending,
                              page=page, page_size=page_size)


def custom_key_store_list(*, caller: Caller) -> list:
    """DescribeCustomKeyStores: this server has no custom key stores (CloudHSM, XKS), so the
    answer is always empty; still authorized and audited like any other request."""
    with operation(caller, "DescribeCustomKeyStores", read_only=True, request_parameters={}):
        authorize(caller, "kms:DescribeCustomKeyStores")
        return []
