"""Figures /healthz reports beside its checks. Apps above accounts register a provider: name -> callable() returning
a JSON value (one cheap query at most); messaging registers the age of the oldest unprocessed webhook event."""

_providers = {}


def register(name):
    def decorator(func):
        _providers[name] = func
        return func

    return decorator


def figures():
    return {name: func() for name, func in _providers.items()}


def queue_depth():
    """Tasks waiting in the broker, per cluster (the realtime one and the heavy one): hints and scheduled work that
    no worker has taken yet. The work itself lives in database rows; a deep queue means the workers are behind."""
    from django.conf import settings
    from django_q.brokers import get_broker

    names = [settings.Q_CLUSTER["name"], settings.Q_HEAVY_CLUSTER]
    return {name: get_broker(name).queue_size() for name in names}
