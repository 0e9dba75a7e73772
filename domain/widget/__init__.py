"""The website widget's public side (Chatwoot's widget API): contact sessions (`sessions`), the
contact's own conversations, messages, uploads and CSAT (`conversations`), and what the widget reads
from its inbox (`config`)."""
