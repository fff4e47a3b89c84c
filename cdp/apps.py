from django.apps import AppConfig


class CdpConfig(AppConfig):
    name = "cdp"
