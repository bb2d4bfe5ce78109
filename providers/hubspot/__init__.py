"""HubSpot CRM v3: the client and actions Pivot uses, and a local sandbox speaking its wire format."""
