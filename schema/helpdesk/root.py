"""Root fields of inboxes, contacts, conversations and messages."""

from __future__ import annotations

import strawberry

from domain.accounts.policy import Rule
from resolvers import helpdesk as h
from resolvers import saved_views as sv
from schema.core.access import field, mutation
from schema.core.pagination import Connection
from schema.helpdesk import inputs as i
from schema.helpdesk import saved_views as v
from schema.helpdesk import types as t


@strawberry.type
class HelpdeskQuery:
    inboxes: list[t.Inbox] = field(
        h.inboxes_list, Rule.member, "Inboxes: all for administrators, the ones you work for agents."
    )
    contacts: Connection[t.Contact] = field(
        h.contacts_list,
        Rule.member,
        "Contacts of the account, newest first; `search` matches name, email, phone and identifier; "
        "`label` keeps those with that label (by title, any case).",
    )
    contact: t.Contact = field(h.contact, Rule.member, "One contact.")
    conversations: Connection[t.Conversation] = field(
        h.conversations_list,
        Rule.member,
        "Conversations you may see (inbox membership and custom-role permissions), filtered and sorted; keyset cursors.",
    )
    conversation: t.Conversation = field(h.conversation, Rule.member, "One conversation, by `id` or by `displayId`.")
    search: t.SearchResults = field(
        h.search,
        Rule.member,
        'Search conversations (displayId, contact), messages (full text: stems, "phrases", -words; partial words) '
        "and contacts; only what you may see; offset cursor `after`, `first` at most 25.",
    )
    conversation_counts: t.ConversationCounts = field(
        h.conversation_counts, Rule.member, "Counts per status and of the mine/unassigned tabs, for the same filter."
    )
    saved_views: list[v.SavedView] = field(
        sv.saved_views_list,
        Rule.member,
        "Saved views of a list: your own and the account-wide ones (account-wide first, then by name).",
    )


@strawberry.type
class HelpdeskMutation:
    inbox_create: i.InboxPayload = mutation(h.inbox_create, Rule.administrator, "Create an inbox.")
    inbox_update: i.InboxPayload = mutation(h.inbox_update, Rule.administrator, "Change an inbox.")
    inbox_bot_set: i.InboxPayload = mutation(
        h.inbox_bot_set,
        Rule.administrator,
        "Connect an agent bot to an inbox (one bot per inbox, replacing any other): its new conversations "
        "start pending and the bot answers them first.",
    )
    inbox_bot_unset: i.InboxPayload = mutation(
        h.inbox_bot_unset, Rule.administrator, "Leave an inbox without a bot: new conversations start open."
    )
    inbox_members_set: i.InboxPayload = mutation(
        h.inbox_members_set, Rule.administrator, "Set the agents of an inbox (at most 100); they see its conversations."
    )
    contact_create: i.ContactPayload = mutation(h.contact_create, Rule.member, "Create a contact.")
    contact_update: i.ContactPayload = mutation(h.contact_update, Rule.member, "Change a contact.")
    contact_delete: i.ContactPayload = mutation(
        h.contact_delete, Rule.administrator, "Delete a contact with their conversations and messages."
    )
    contact_merge: i.ContactPayload = mutation(
        h.contact_merge,
        Rule.agent,
        "Merge the mergee into the base contact: conversations and notes move, the mergee is gone.",
    )
    contact_note_create: i.ContactNotePayload = mutation(
        h.contact_note_create, Rule.agent, "Write a note on a contact."
    )
    contact_note_update: i.ContactNotePayload = mutation(
        h.contact_note_update, Rule.agent, "Rewrite a note (its author, or an administrator)."
    )
    contact_note_delete: i.ContactNotePayload = mutation(
        h.contact_note_delete, Rule.agent, "Delete a note (its author, or an administrator)."
    )
    contact_labels_update: i.ContactPayload = mutation(
        h.contact_labels_update, Rule.member, "Add, remove or replace a contact's labels by title."
    )
    conversation_create: i.ConversationPayload = mutation(
        h.conversation_create, Rule.member, "Start a conversation with a contact in an inbox you work."
    )
    message_create: i.MessagePayload = mutation(
        h.message_create,
        Rule.member,
        "Reply, write a private note (mentions notify colleagues), or post an incoming message on an API inbox.",
    )
    message_update: i.MessagePayload = mutation(
        h.message_update, Rule.agent, "Edit your message; the previous text is kept."
    )
    message_delete: i.MessagePayload = mutation(
        h.message_delete, Rule.agent, "Delete your message; the original is kept for the record."
    )
    conversation_assign: i.ConversationPayload = mutation(
        h.conversation_assign, Rule.member, "Assign to an agent of the inbox and/or a team (null unassigns)."
    )
    conversation_status_update: i.ConversationPayload = mutation(
        h.conversation_status_update,
        Rule.member,
        "Open, set pending, resolve or snooze (until a future time or the next reply).",
    )
    conversation_handoff: i.ConversationPayload = mutation(
        h.conversation_handoff,
        Rule.member,
        "Hand a pending conversation from its bot to people (agents and the bot itself may): it opens, "
        "and auto-assignment picks it up. NOT_PENDING for any other status.",
    )
    conversation_priority_update: i.ConversationPayload = mutation(
        h.conversation_priority_update, Rule.member, "Set or clear the priority."
    )
    conversation_labels_update: i.ConversationPayload = mutation(
        h.conversation_labels_update, Rule.member, "Add, remove or replace labels by title."
    )
    conversation_custom_attributes_update: i.ConversationPayload = mutation(
        h.conversation_custom_attributes_update, Rule.member, "Set custom attributes (validated; null removes a key)."
    )
    conversation_merge: i.ConversationPayload = mutation(
        h.conversation_merge,
        Rule.agent,
        "Merge a conversation into another of the same contact (you must see both): its messages, notes, "
        "labels, participants and mentions move to the kept one, which is returned; the merged one is "
        "resolved and points to it (`mergedInto`).",
    )
    conversation_mark_read: i.ConversationPayload = mutation(h.conversation_mark_read, Rule.agent, "Mark as read now.")
    conversation_mute: i.ConversationPayload = mutation(
        h.conversation_mute, Rule.agent, "Mute (block the contact and resolve) or unmute."
    )
    conversation_transcript_send: i.ConversationPayload = mutation(
        h.conversation_transcript_send,
        Rule.agent,
        "Email the conversation's public messages (no private notes) to an address; 10 a minute per agent.",
    )
    conversation_bulk_update: i.ConversationBulkPayload = mutation(
        h.conversation_bulk_update,
        Rule.agent,
        "Assign, change status or add labels on up to 100 conversations at once.",
    )
    conversations_bulk_update: v.ConversationsBulkPayload = mutation(
        h.conversations_bulk_update,
        Rule.agent,
        "Assign, change status or priority, or add labels on every conversation you may see that the filter "
        "matches (the list's filter, conditions and tab included), at most 1,000; each change gets its usual "
        "event and activity line, all or nothing.",
    )
    contacts_bulk_labels: v.ContactsBulkPayload = mutation(
        h.contacts_bulk_labels,
        Rule.member,
        "Add and remove labels (by title) on the listed contacts, or on every contact of the account the filter "
        "matches, at most 1,000; one contact.updated event per contact that changed, all or nothing.",
    )
    contacts_bulk_delete: v.ContactsBulkPayload = mutation(
        h.contacts_bulk_delete,
        Rule.administrator,
        "Delete the listed contacts, or every contact of the account the filter matches (at most 1,000), with "
        "their conversations and messages; one contact.deleted event and audit line each, all or nothing.",
    )
    saved_view_create: v.SavedViewPayload = mutation(
        sv.saved_view_create,
        Rule.member,
        "Save a view for yourself, or (administrators) for the whole account; the filter is checked as the list "
        "checks it. At most 100 per owner.",
    )
    saved_view_update: v.SavedViewPayload = mutation(
        sv.saved_view_update, Rule.member, "Rename a saved view or replace its filter (account-wide: administrators)."
    )
    saved_view_delete: v.SavedViewPayload = mutation(
        sv.saved_view_delete, Rule.member, "Delete a saved view (account-wide: administrators)."
    )
