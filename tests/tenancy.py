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


# The console walks (tests/test_console_tenancy.py, accounts/tests/test_view_permissions.py) need, for each console
# URL with path arguments, the arguments of a real object of a team. Put cases in `<app>/tests/console_cases.py`:
#
#     @console_case("cdp:customer", "cdp:customer-timeline")      # namespaced URL names
#     def customer_urls(team):
#         return {"pk": CustomerFactory(team=team).pk}
CONSOLE_CASES = {}


def console_case(*url_names):
    def decorator(func):
        for name in url_names:
            CONSOLE_CASES[name] = func
        return func

    return decorator
