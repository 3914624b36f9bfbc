"""WhatsApp through Twilio: the adapter, its webhook events and its REST client."""
