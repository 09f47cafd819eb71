"""Chat channels (WhatsApp, Telegram, sandbox) behind one outbound interface."""
