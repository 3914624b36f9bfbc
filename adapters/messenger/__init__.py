"""Facebook Messenger: the adapter, its webhook events and its Graph API client."""
