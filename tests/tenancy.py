"""The registry behind the cross-team check (tests/test_tenancy.py).

Every route on the /api/v1/ router must have a case: a function that creates one object of the route's kind
for a team and returns it. Put cases in `<app>/tests/tenancy_cases.py`:

    from tests.tenancy import tenancy_case

    @tenancy_case("customer")            # the router basename
    def make_customer(team):
        return CustomerFactory(team=team)
"""

CASES = {}


def tenancy_case(basename):
    def decorator(func):
        CASES[basename] = func
        return func

    return decorator
