"""Channel adapters: one interface (base.Transport), one module per platform, and the sandbox."""

from .base import BUDGET, PERMANENT, RETRYABLE, TEMPLATE, UNSUBSCRIBED, SendResult, Transport


def get_adapter(channel, status_callback=""):
    """The adapter for a channel: the sandbox when the channel is a sandbox, else the platform's.

    SMS channels take the delivery-receipt URL the provider should report to (`status_callback`)."""
    from .instagram import InstagramTransport
    from .line import LineTransport
    from .messenger import MessengerTransport
    from .sandbox import SandboxTransport
    from .sms import sms_adapter
    from .wechat import WeChatTransport
    from .whatsapp import WhatsAppTransport

    if channel.kind == "sms":
        return sms_adapter(channel, status_callback)
    if channel.is_sandbox:
        return SandboxTransport(channel)
    by_kind = {
        "line": LineTransport,
        "facebook": MessengerTransport,
        "instagram": InstagramTransport,
        "whatsapp": WhatsAppTransport,
    }
    if channel.kind == "wechat":
        from ..services.wechat_tokens import access_token

        return WeChatTransport(channel, tokens=access_token)
    transport = by_kind.get(channel.kind)
    if transport is None:
        raise ValueError(f"No adapter for channel kind {channel.kind!r}")
    return transport(channel)


__all__ = ["BUDGET", "PERMANENT", "RETRYABLE", "TEMPLATE", "UNSUBSCRIBED", "SendResult", "Transport", "get_adapter"]
