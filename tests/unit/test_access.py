"""Access control: each role's allowed and refused actions, local mode, wildcards, identities."""

from __future__ import annotations

import pytest

from va_app.config import Settings
from va_app.errors import ConfigError, VAError
from va_app.services.access import (
    PERMISSIONS,
    AccessDeniedError,
    AccessPolicy,
    Action,
    Role,
    User,
    role_assignments,
)

ENV = {
    "VA_ADMINS": "ada@example.com, Root",
    "VA_ANNOTATORS": "ann@example.com,bo",
    "VA_VIEWERS": "vic@example.com",
}
ALLOWED = {
    Role.ADMIN: set(Action),
    Role.ANNOTATOR: {
        Action.VIEW,
        Action.ANNOTATE,
        Action.CREATE_LABEL,
        Action.EDIT_LABEL,
        Action.BUILD,
        Action.EXPORT,
    },
    Role.VIEWER: {Action.VIEW, Action.EXPORT},
}
CASES = [(role, action, action in ALLOWED[role]) for role in Role for action in Action]


def _policy(env: dict[str, str]) -> AccessPolicy:
    return AccessPolicy.from_settings(Settings.from_env(env))


@pytest.fixture
def policy() -> AccessPolicy:
    return _policy(ENV)


@pytest.mark.parametrize(
    ("role", "action", "allowed"),
    CASES,
    ids=[f"{r}-{a}-{'ok' if ok else 'refused'}" for r, a, ok in CASES],
)
def test_each_role_is_allowed_exactly_its_actions(policy, role, action, allowed):
    user = User("someone", "someone@example.com", role)
    assert policy.allowed(user, action) is allowed
    if allowed:
        policy.require(user, action)
    else:
        with pytest.raises(AccessDeniedError) as err:
            policy.require(user, action)
        assert err.value.action is action
        assert isinstance(err.value, VAError)  # pages and CLI show it like any domain error


def test_the_table_matches_what_the_issue_demands():
    assert Action.ANNOTATE not in PERMISSIONS[Role.VIEWER]
    for action in (Action.DELETE_LABEL, Action.INGEST, Action.ANNOTATE_OTHERS):
        assert action not in PERMISSIONS[Role.ANNOTATOR]
    assert PERMISSIONS[Role.ADMIN] == frozenset(Action)


@pytest.mark.parametrize(
    ("role", "action", "message"),
    [
        (
            Role.VIEWER,
            Action.ANNOTATE,
            "viewers cannot annotate; ask an admin for the annotator role",
        ),
        (
            Role.VIEWER,
            Action.BUILD,
            "viewers cannot build models; ask an admin for the annotator role",
        ),
        (Role.ANNOTATOR, Action.DELETE_LABEL, "annotators cannot delete labels; only admins can"),
        (Role.ANNOTATOR, Action.INGEST, "annotators cannot ingest videos; only admins can"),
    ],
)
def test_a_refusal_says_what_to_ask_for(policy, role, action, message):
    with pytest.raises(AccessDeniedError, match=f"^{message}$"):
        policy.require(User("x", "", role), action)


def test_own_annotations_are_annotate_but_other_peoples_need_an_admin(policy):
    ann = User("Ann", "ann@example.com", Role.ANNOTATOR)
    policy.require(ann, Action.ANNOTATE, owner="ann@example.com")
    policy.require(ann, Action.ANNOTATE, owner="ANN@example.com ")
    with pytest.raises(AccessDeniedError, match="other people's annotations \\(bo's\\)") as err:
        policy.require(ann, Action.ANNOTATE, owner="bo")
    assert err.value.action is Action.ANNOTATE_OTHERS
    admin = User("Ada", "ada@example.com", Role.ADMIN)
    policy.require(admin, Action.ANNOTATE, owner="bo")


def test_local_mode_makes_everyone_admin():
    policy = _policy({})
    assert policy.local_mode
    user = policy.user_for(None, "  Ana  ")
    assert user == User("Ana", "", Role.ADMIN)
    assert policy.anonymous().role is Role.ADMIN
    for action in Action:
        policy.require(user, action, owner="someone else")


def test_roles_configured_means_not_local(policy):
    assert not policy.local_mode
    assert _policy({"VA_VIEWERS": "*"}).local_mode is False


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        (
            {"is_logged_in": True, "email": "ada@example.com", "name": "Ada L."},
            User("Ada L.", "ada@example.com", Role.ADMIN),
        ),
        (
            {"email": "ANN@Example.com", "name": "Ann"},
            User("Ann", "ANN@Example.com", Role.ANNOTATOR),
        ),
        ({"email": "vic@example.com"}, User("vic@example.com", "vic@example.com", Role.VIEWER)),
        ({"name": "Root"}, User("Root", "", Role.ADMIN)),
        (
            {"email": "stranger@elsewhere.org", "name": "S"},
            User("S", "stranger@elsewhere.org", Role.VIEWER),
        ),
    ],
)
def test_signed_in_identity_gives_name_email_and_role(policy, identity, expected):
    assert policy.user_for(identity, "typed name is ignored") == expected


def test_annotator_name_comes_from_the_identity(policy):
    user = policy.user_for({"email": "ann@example.com", "name": "Ann"}, "Mallory")
    assert user.annotator == "ann@example.com"
    assert policy.user_for(None, "bo").annotator == "bo"


def test_not_signed_in_uses_the_fallback_name_or_the_default_role(policy):
    assert policy.user_for({"is_logged_in": False}, "bo").role is Role.ANNOTATOR
    assert policy.user_for(None, "Root").role is Role.ADMIN  # e.g. the CLI's OS user
    assert policy.anonymous() == User("", "", Role.VIEWER)


@pytest.mark.parametrize(
    ("env", "who", "role"),
    [
        ({"VA_ANNOTATORS": "*"}, "anyone@anywhere.net", Role.ANNOTATOR),
        (
            {"VA_ANNOTATORS": "*", "VA_VIEWERS": "guest@example.com"},
            "guest@example.com",
            Role.VIEWER,
        ),
        ({"VA_ANNOTATORS": "*@example.com"}, "joe@example.com", Role.ANNOTATOR),
        ({"VA_ANNOTATORS": "*@example.com"}, "joe@example.com.evil.org", Role.VIEWER),
        ({"VA_ANNOTATORS": "*@example.com"}, "joe", Role.VIEWER),
        ({"VA_ADMINS": "boss@example.com", "VA_VIEWERS": "*"}, "boss@example.com", Role.ADMIN),
        (
            {"VA_ADMINS": "boss@example.com", "VA_DEFAULT_ROLE": "annotator"},
            "x@y.z",
            Role.ANNOTATOR,
        ),
        (
            {"VA_ADMINS": "boss@example.com", "VA_VIEWERS": "*", "VA_DEFAULT_ROLE": "annotator"},
            "x@y.z",
            Role.VIEWER,
        ),
    ],
)
def test_wildcards_and_default_role(env, who, role):
    policy = _policy(env)
    assert policy.user_for({"email": who}).role is role


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VA_ADMINS": "*"}, "VA_ADMINS cannot hold a wildcard"),
        ({"VA_ADMINS": "*@example.com"}, "VA_ADMINS cannot hold a wildcard"),
        ({"VA_VIEWERS": "*example"}, "VA_VIEWERS: '\\*example' is not a wildcard"),
        ({"VA_VIEWERS": "a", "VA_DEFAULT_ROLE": "owner"}, "VA_DEFAULT_ROLE='owner' is not one of"),
        ({"VA_VIEWERS": "a", "VA_DEFAULT_ROLE": "admin"}, "would make everyone an admin"),
    ],
)
def test_bad_role_settings_are_refused_with_a_reason(env, message):
    with pytest.raises(ConfigError, match=message):
        role_assignments(Settings.from_env(env))


def test_role_lists_read_from_the_environment_by_default(monkeypatch):
    for name in ("VA_ADMINS", "VA_ANNOTATORS", "VA_VIEWERS", "VA_DEFAULT_ROLE"):
        monkeypatch.delenv(name, raising=False)
    assert AccessPolicy.from_settings(Settings.from_env()).local_mode
    monkeypatch.setenv("VA_ANNOTATORS", "bo")
    policy = AccessPolicy.from_settings(Settings.from_env())
    assert policy.user_for(None, "bo").role is Role.ANNOTATOR
    assert policy.user_for(None, "al").role is Role.VIEWER
