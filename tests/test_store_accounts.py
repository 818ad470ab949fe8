"""Account administration in the store: disabling, the last-admin rule, own password checks, and
the per-name login failure counter; both backends."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pytest

from vigil.errors import InvalidAccount, LastAdmin, UserNotFound
from vigil.store.accounts import Account, AccountRepository
from vigil.store.login_failures import LoginFailureRepository


def test_a_disabled_account_cannot_log_in_nor_use_its_keys(db: Any) -> None:
    users = AccountRepository(db)
    users.create("root", "root-password", "admin")
    ada = users.create("ada", "ada-password", "viewer")
    _, token = users.create_key(ada.id, "script")
    users.set_disabled(ada.id, True)
    assert users.authenticate("ada", "ada-password") is None
    assert users.by_key(token) is None
    disabled = users.get(ada.id)
    assert disabled is not None and disabled.disabled and disabled.session_version == ada.session_version + 1
    users.set_disabled(ada.id, False)
    assert users.authenticate("ada", "ada-password") is not None
    assert users.by_key(token) is not None


def test_the_last_enabled_admin_stays(db: Any) -> None:
    users = AccountRepository(db)
    root = users.create("root", "root-password", "admin")
    other = users.create("other", "other-password", "admin")
    users.set_disabled(other.id, True)  # a disabled admin does not count as the remaining admin
    for refused in (
        lambda: users.set_disabled(root.id, True),
        lambda: users.set_role(root.id, "viewer"),
        lambda: users.delete(root.id),
    ):
        with pytest.raises(LastAdmin):
            refused()
    users.delete(other.id)  # a disabled admin can go
    with pytest.raises(UserNotFound):
        users.set_disabled(other.id, False)


def test_check_password(db: Any) -> None:
    users = AccountRepository(db)
    ada = users.create("ada", "ada-password", "viewer")
    assert users.check_password(ada.id, "ada-password")
    assert not users.check_password(ada.id, "wrong-password")
    users.set_password(ada.id, "new-password")
    assert users.check_password(ada.id, "new-password")
    assert users.by_name("ada") == users.get(ada.id)


def test_login_failures_count_per_name_case_blind(db: Any) -> None:
    failures = LoginFailureRepository(db)
    assert failures.get("Ada") is None
    assert [failures.record(name) for name in ("ada", "ADA", " Ada")] == [1, 2, 3]
    count = failures.get("ada")
    assert count is not None and count.failures == 3
    assert failures.record("ada", restart=True) == 1
    failures.clear("ADA")
    assert failures.get("ada") is None


def test_role_and_disabled_change_together_or_not_at_all(db: Any) -> None:
    users = AccountRepository(db)
    root = users.create("root", "root-password", "admin")
    ada = users.create("ada", "ada-password", "admin")
    users.update(ada.id, role="viewer", disabled=True)  # one transaction, one session bump
    changed = users.get(ada.id)
    assert changed is not None and changed.role == "viewer" and changed.disabled
    assert changed.session_version == ada.session_version + 1
    with pytest.raises(LastAdmin):
        users.update(root.id, role="operator", disabled=False)
    kept = users.get(root.id)
    assert kept is not None and kept.role == "admin" and kept.session_version == root.session_version
    with pytest.raises(InvalidAccount):
        users.create("bob smith", "bob-password", "viewer")  # the API's name rule, for the CLI too


def test_two_admins_demoting_each_other_at_once_leave_one_admin(db: Any) -> None:
    """Check-then-write raced on PostgreSQL (READ COMMITTED): both demotions could pass."""
    users = AccountRepository(db)
    for round_ in range(8):
        pair = [
            users.create(f"a{round_}", "a-password", "admin"),
            users.create(f"b{round_}", "b-password", "admin"),
        ]
        for other in users.all():
            if other.role == "admin" and other not in pair:
                users.set_role(other.id, "viewer")
        barrier = threading.Barrier(2)

        def demote(account: Account, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            with contextlib.suppress(LastAdmin):
                users.set_role(account.id, "viewer")

        threads = [threading.Thread(target=demote, args=(a,)) for a in pair]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(account.role == "admin" and not account.disabled for account in users.all()) == 1
