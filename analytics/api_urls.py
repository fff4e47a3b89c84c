from django.urls import path

from . import api

urlpatterns = [
    path("analytics/kpis", api.KpisView.as_view(), name="api-analytics-kpis"),
    path("analytics/contact-overview", api.OverviewView.as_view(), name="api-analytics-overview"),
    path("analytics/binding-sources", api.BindingSourcesView.as_view(), name="api-analytics-binding-sources"),
    path("analytics/contact-sources", api.ContactSourcesView.as_view(), name="api-analytics-contact-sources"),
    path("analytics/valid-contacts", api.ValidContactsView.as_view(), name="api-analytics-valid-contacts"),
]
