"""Console URLs of the audit trail, mounted at /cloudtrail/ (CloudTrail's console pages)."""

from django.urls import path

from . import alert_views, integrity_views, views

app_name = "audit"
urlpatterns = [
    path("events", views.event_history, name="event_history"),
    path("events/download", views.events_download, name="events_download"),
    path("events/<uuid:event_id>", views.event_detail, name="event_detail"),
    path("integrity", integrity_views.validate_integrity, name="validate_integrity"),
    path("alerts", alert_views.alert_list, name="alerts"),
    path("alerts/<int:alert_id>", alert_views.alert_detail, name="alert_detail"),
    path("alerts/<int:alert_id>/archive", alert_views.alert_archive, name="alert_archive"),
]
