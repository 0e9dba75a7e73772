"""The installation: what a super admin sees and changes across accounts (usage, suspension, feature
limits, installation-wide settings)."""
