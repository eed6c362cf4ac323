"""Access control: who may do what, the same rules for every client (app, CLI, scripts).

Three roles, from settings:

================  =====  =========  ======
action            admin  annotator  viewer
================  =====  =========  ======
view              yes    yes        yes
export            yes    yes        yes
annotate          yes    yes        no
create_label      yes    yes        no
edit_label        yes    yes        no
build             yes    yes        no
annotate_others   yes    no         no
delete_label      yes    no         no
ingest            yes    no         no
backup            yes    no         no
================  =====  =========  ======

Viewers may export: an export holds nothing the read-only pages (review, dashboard) do not
already show them, and managers need the numbers in a spreadsheet. ``annotate_others`` covers
clearing, flipping or deleting another person's annotation and writing annotations in someone
else's name (an import whose ``annotator`` column names other people).

Roles come from settings (:class:`~va_app.config.Settings`, read from the environment
variables of the same names; comma-separated e-mails or names, case-insensitive):
``VA_ADMINS``, ``VA_ANNOTATORS``, ``VA_VIEWERS``; ``*`` (everyone) or ``*@example.com``
(a whole domain) are allowed for annotators and viewers, never for admins. Whoever matches no
entry gets ``VA_DEFAULT_ROLE`` (default ``viewer``). An explicit entry beats a wildcard, so
``VA_ANNOTATORS=*`` with ``VA_VIEWERS=guest@example.com`` keeps the guest read-only.

With none of the three set the policy is in **local mode**: a single user on their own machine,
no sign-in, everyone is an admin (the app says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from va_app.config import Settings
from va_app.errors import ConfigError, VAError

ROLE_VARIABLES = ("VA_ADMINS", "VA_ANNOTATORS", "VA_VIEWERS")
DEFAULT_ROLE_VARIABLE = "VA_DEFAULT_ROLE"
WILDCARD = "*"


class Role(StrEnum):
    ADMIN = "admin"
    ANNOTATOR = "annotator"
    VIEWER = "viewer"


class Action(StrEnum):
    VIEW = "view"
    ANNOTATE = "annotate"
    ANNOTATE_OTHERS = "annotate_others"
    CREATE_LABEL = "create_label"
    EDIT_LABEL = "edit_label"
    DELETE_LABEL = "delete_label"
    BUILD = "build"
    EXPORT = "export"
    INGEST = "ingest"
    BACKUP = "backup"


_VIEWER_ACTIONS = frozenset({Action.VIEW, Action.EXPORT})
_ANNOTATOR_ACTIONS = _VIEWER_ACTIONS | {
    Action.ANNOTATE,
    Action.CREATE_LABEL,
    Action.EDIT_LABEL,
    Action.BUILD,
}
PERMISSIONS: Mapping[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.ANNOTATOR: frozenset(_ANNOTATOR_ACTIONS),
    Role.VIEWER: _VIEWER_ACTIONS,
}
# Weakest role first: the error message names the least a user needs to ask for.
_ROLE_ORDER = (Role.VIEWER, Role.ANNOTATOR, Role.ADMIN)
_PHRASES = {
    Action.VIEW: "view this corpus",
    Action.ANNOTATE: "annotate",
    Action.ANNOTATE_OTHERS: "change other people's annotations",
    Action.CREATE_LABEL: "create labels",
    Action.EDIT_LABEL: "edit labels",
    Action.DELETE_LABEL: "delete labels",
    Action.BUILD: "build models",
    Action.EXPORT: "export annotations or models",
    Action.INGEST: "ingest videos",
    Action.BACKUP: "back up or restore the corpus",
}


class AccessDeniedError(VAError):
    """The user's role does not allow the action; the message says whom to ask for what."""

    def __init__(self, message: str, *, user: User, action: Action) -> None:
        super().__init__(message)
        self.user = user
        self.action = action


@dataclass(frozen=True)
class User:
    """Who is acting: a display name, an e-mail when signed in, and the role they have."""

    name: str
    email: str = ""
    role: Role = Role.VIEWER

    @property
    def annotator(self) -> str:
        """The name stored with annotations: the e-mail when known (unique), else the name."""
        return self.email or self.name


#: The app acting for itself (its first start builds the demo corpus): an in-process caller,
#: never a visitor of a page; every action still names who acted.
SYSTEM = User("Video Annotator", "", Role.ADMIN)


@dataclass(frozen=True)
class RoleAssignments:
    """Role lists as configured; entries are case-folded names, e-mails or wildcards."""

    admins: frozenset[str] = frozenset()
    annotators: frozenset[str] = frozenset()
    viewers: frozenset[str] = frozenset()
    default_role: Role = Role.VIEWER

    @property
    def configured(self) -> bool:
        return bool(self.admins or self.annotators or self.viewers)

    def role_of(self, *identifiers: str) -> Role:
        """The strongest explicitly listed role, else the strongest wildcard match, else the
        default role."""
        keys = {i.strip().casefold() for i in identifiers if i and i.strip()}
        listed = {
            Role.ADMIN: self.admins,
            Role.ANNOTATOR: self.annotators,
            Role.VIEWER: self.viewers,
        }
        for exact in (True, False):
            for role in reversed(_ROLE_ORDER):
                if any(_matches(entry, key, exact=exact) for entry in listed[role] for key in keys):
                    return role
        return self.default_role


def role_assignments(settings: Settings) -> RoleAssignments:
    """The role lists of ``settings`` (``VA_ADMINS``, ``VA_ANNOTATORS``, ``VA_VIEWERS``,
    ``VA_DEFAULT_ROLE``), checked; a list this cannot use raises :class:`ConfigError`."""
    lists = (settings.admins, settings.annotators, settings.viewers)
    admins, annotators, viewers = (_entries(raw) for raw in lists)
    if any(_is_wildcard(entry) for entry in admins):
        raise ConfigError(
            "VA_ADMINS cannot hold a wildcard (it would make everyone an admin); "
            "list the admins, or leave every VA_* role variable unset for "
            "local mode"
        )
    for name, entries in zip(ROLE_VARIABLES, (admins, annotators, viewers)):
        bad = [e for e in entries if _is_wildcard(e) and not _valid_wildcard(e)]
        if bad:
            raise ConfigError(
                f"{name}: {bad[0]!r} is not a wildcard this understands; use "
                "'*' (everyone) or '*@example.com' (a whole domain)"
            )
    return RoleAssignments(admins, annotators, viewers, _default_role(settings.default_role))


def _default_role(raw: str) -> Role:
    value = raw.strip().lower() or Role.VIEWER.value
    try:
        role = Role(value)
    except ValueError:
        raise ConfigError(
            f"{DEFAULT_ROLE_VARIABLE}={value!r} is not one of "
            f"{', '.join(r.value for r in _ROLE_ORDER)}"
        ) from None
    if role is Role.ADMIN:
        raise ConfigError(
            f"{DEFAULT_ROLE_VARIABLE}=admin would make everyone an admin; "
            "list the admins in VA_ADMINS"
        )
    return role


@dataclass(frozen=True)
class AccessPolicy:
    """The rules of one deployment. ``local_mode``: no roles configured, everyone is admin."""

    assignments: RoleAssignments = field(default_factory=RoleAssignments)

    @classmethod
    def from_settings(cls, settings: Settings) -> AccessPolicy:
        """The policy of a deployment: its role lists, read from ``settings``."""
        return cls(role_assignments(settings))

    @classmethod
    def local(cls) -> AccessPolicy:
        return cls(RoleAssignments())

    @property
    def local_mode(self) -> bool:
        return not self.assignments.configured

    def user_for(self, identity: Mapping[str, object] | None, fallback_name: str = "") -> User:
        """The acting user.

        ``identity`` is a signed-in user's claims (``st.user.to_dict()``: ``email``, ``name``,
        ...); ``None`` or ``is_logged_in: False`` means nobody is signed in. Then the
        ``fallback_name`` is used — the name typed in local mode, or the OS user for the CLI.
        Outside local mode a caller must pass as fallback only a name it can vouch for (the
        CLI's OS user), never one typed into a web page: use :meth:`anonymous` there.
        """
        if identity and identity.get("is_logged_in", True):
            email = str(identity.get("email") or "").strip()
            name = str(
                identity.get("name") or identity.get("preferred_username") or email or ""
            ).strip()
            return User(name, email, self._role(name, email))
        name = " ".join(str(fallback_name or "").split())
        return User(name, "", self._role(name))

    def anonymous(self) -> User:
        """Someone not signed in: the default role outside local mode, admin in it."""
        return User("", "", self._role())

    def allowed(self, user: User, action: Action, *, owner: str | None = None) -> bool:
        """Whether ``user`` may do ``action``; ``owner`` is whose annotation is touched."""
        return _effective(user, action, owner) in PERMISSIONS[user.role]

    def require(self, user: User, action: Action, *, owner: str | None = None) -> None:
        """Raise :class:`AccessDeniedError` with an actionable message unless allowed."""
        needed = _effective(user, action, owner)
        if needed in PERMISSIONS[user.role]:
            return
        raise AccessDeniedError(_denial(user, needed, owner), user=user, action=needed)

    def _role(self, *identifiers: str) -> Role:
        if self.local_mode:
            return Role.ADMIN
        return self.assignments.role_of(*identifiers)


def _effective(user: User, action: Action, owner: str | None) -> Action:
    """Touching another person's annotation is a stronger action than touching one's own."""
    action = Action(action)
    if action is Action.ANNOTATE and owner is not None and not _same_person(user, owner):
        return Action.ANNOTATE_OTHERS
    return action


def _same_person(user: User, owner: str) -> bool:
    owner_key = owner.strip().casefold()
    return owner_key in {user.annotator.casefold(), user.name.casefold(), user.email.casefold()}


def _denial(user: User, action: Action, owner: str | None) -> str:
    holders = [role for role in _ROLE_ORDER if action in PERMISSIONS[role]]
    ask = (
        f"ask an admin for the {holders[0]} role"
        if holders[0] is not Role.ADMIN
        else "only admins can"
    )
    whose = f" ({owner}'s)" if action is Action.ANNOTATE_OTHERS and owner else ""
    return f"{user.role}s cannot {_PHRASES[action]}{whose}; {ask}"


def _entries(raw: str) -> frozenset[str]:
    return frozenset(part.strip().casefold() for part in raw.split(",") if part.strip())


def _is_wildcard(entry: str) -> bool:
    return entry.startswith(WILDCARD)


def _valid_wildcard(entry: str) -> bool:
    return entry == WILDCARD or (
        entry.startswith("*@") and len(entry) > 2 and WILDCARD not in entry[1:]
    )


def _matches(entry: str, key: str, *, exact: bool) -> bool:
    if exact:
        return not _is_wildcard(entry) and entry == key
    if entry == WILDCARD:
        return True
    # "*@example.com": everyone whose e-mail ends with the domain.
    return _is_wildcard(entry) and "@" in key and key.endswith(entry[1:])
