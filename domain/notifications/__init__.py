"""Agents' notifications, as in Chatwoot: what their owner sees and sets (`service`), how they are
made from the event log (`fanout`), and the email digests that collect a conversation's unread
notifications (`digests`)."""
