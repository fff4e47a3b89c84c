from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from cdp.models import Channel

        from .services.ingest import forget_channel

        post_save.connect(forget_channel, sender=Channel, dispatch_uid="messaging.forget_channel.save")
        post_delete.connect(forget_channel, sender=Channel, dispatch_uid="messaging.forget_channel.delete")
