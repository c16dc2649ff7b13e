"""The WhatsApp transport over the WhatsApp Business Cloud API (Graph API).

Why httpx directly and not pywa: pywa (`pywa_async`, 4.x on PyPI) is a well-kept async
client, and its httpx session would run on our loop, but it does not fit the rest:
- its Graph API base URL is fixed to `https://graph.facebook.com/v{version}` (only the
  version is configurable), so WHATSAPP_API_BASE could point it at a local server only by
  overwriting its session's `base_url` after construction, a private detail;
- its webhook server integrations are Flask and FastAPI (uvicorn); on the app's aiohttp
  server we would call its manual handlers and still write the routes, the signature check
  and the deduplication ourselves;
- it is a large surface (flows, calls, catalogues, template management) for the four calls
  Polyops makes: send a message, upload media, read the phone number, and the webhook.
httpx is already a dependency (no new package); `graph.py` is about 200 lines.

    whatsapp = build_whatsapp(config, core, notifier, clock, http_server)
    await http_server.start()
    await whatsapp.start()
    ...
    await whatsapp.stop()

See docs/whatsapp.md for setting up the Meta app, the webhook and the alert template.
"""

from __future__ import annotations

from bot.whatsapp.access import ServiceWindow, number_roster
from bot.whatsapp.graph import ErrorKind, GraphClient, GraphError
from bot.whatsapp.outbox import Outbox, SendPolicy, Template
from bot.whatsapp.transport import (
    DEFAULT_PATH,
    WhatsAppChannel,
    WhatsAppConfig,
    WhatsAppError,
    WhatsAppSettings,
    WhatsAppTransport,
    build_whatsapp,
)
from bot.whatsapp.webhook import WebhookReceiver, sign, signature_valid

__all__ = [
    "DEFAULT_PATH",
    "ErrorKind",
    "GraphClient",
    "GraphError",
    "Outbox",
    "SendPolicy",
    "ServiceWindow",
    "Template",
    "WebhookReceiver",
    "WhatsAppChannel",
    "WhatsAppConfig",
    "WhatsAppError",
    "WhatsAppSettings",
    "WhatsAppTransport",
    "build_whatsapp",
    "number_roster",
    "sign",
    "signature_valid",
]
