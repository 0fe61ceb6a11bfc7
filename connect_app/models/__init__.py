"""The data model of the whole product; import models from here."""

from connect_app.models.chat import ChatConversation
from connect_app.models.customers import LINK_TYPES, RULE_STRATEGIES, TIERS, Customer, LinkingRule
from connect_app.models.delivery import Notification, OutboxMessage, Subscription, WebhookDelivery
from connect_app.models.fields import IssueFieldChange, JiraField
from connect_app.models.governance import AuditEntry, DraftApproval, IssueDraft, SlaPolicy, SlaResult
from connect_app.models.issues import IssueEvent, IssueImpact, IssueStatusChange, JiraCustomerLink, JiraIssue
from connect_app.models.tenancy import (
    LIVE_STATUSES,
    ConnectionKind,
    ConnectionStatus,
    JiraConnection,
    LinkCode,
    OAuthState,
    Organization,
    SyncRun,
)

__all__ = [
    "LINK_TYPES",
    "LIVE_STATUSES",
    "RULE_STRATEGIES",
    "TIERS",
    "AuditEntry",
    "ChatConversation",
    "ConnectionKind",
    "ConnectionStatus",
    "Customer",
    "DraftApproval",
    "IssueDraft",
    "IssueEvent",
    "IssueFieldChange",
    "IssueImpact",
    "IssueStatusChange",
    "JiraConnection",
    "JiraCustomerLink",
    "JiraField",
    "JiraIssue",
    "LinkCode",
    "LinkingRule",
    "Notification",
    "OAuthState",
    "Organization",
    "OutboxMessage",
    "SlaPolicy",
    "SlaResult",
    "Subscription",
    "SyncRun",
    "WebhookDelivery",
]
