"""Moving a team from Chatwoot: the importer (`parley import chatwoot`) and its table mappings."""
