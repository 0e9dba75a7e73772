"""GraphQL of the installation: what super admins see and change across accounts."""
