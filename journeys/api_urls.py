from .api import EnrollmentViewSet, JourneyViewSet

routes = [
    ("journeys", JourneyViewSet, "journey"),
    ("journey-enrollments", EnrollmentViewSet, "journey-enrollment"),
]
