"""CustomerIndex: resolve() over many identities at once, for the batched paths."""

from django.db.models import Q

from ...models import (
    Customer,
)


class CustomerIndex:
    """The customers a batch may touch, locked, with the indexes resolve() uses, kept current in memory as the
    batch decides: the events API's batched path and the CSV import's member rows resolve many identities
    with the same rules as resolve(), one read for all of them."""

    KEYS = ("member_id", "phone", "email")

    def __init__(self, team, rows):
        self.team = team
        self.by_pk = {}
        self.index = {key: {} for key in self.KEYS}
        self.order = {}
        for customer in rows:
            self.add(customer)

    @classmethod
    def locked(cls, team, identities, also=()):
        """Lock (FOR UPDATE, id order) and index the active customers `identities` can name, plus customers `also`
        (pks). The caller holds the identities' advisory locks (lock_identities)."""
        rows = list(cls._named(team, identities, also).select_for_update().order_by("pk"))
        for customer in rows:
            customer.team = team
        return cls(team, rows)

    @classmethod
    def read(cls, team, identities):
        """Index the active customers `identities` can name, without locking them: for a batch that only looks
        customers up (the points import; each ledger change locks its own customer)."""
        rows = list(cls._named(team, identities).order_by("pk"))
        for customer in rows:
            customer.team = team
        return cls(team, rows)

    @staticmethod
    def _named(team, identities, also=()):
        wanted = Q(pk__in=list(also))
        member_ids = {i.member_id for i in identities if i.member_id}
        phones = {i.phone for i in identities if i.phone}
        emails = {i.email for i in identities if i.email}
        if member_ids:
            wanted |= Q(member_id__in=member_ids, merged_into__isnull=True)
        if phones and team.match_by_phone:
            wanted |= Q(phone__in=phones, merged_into__isnull=True)
        if emails and team.match_by_email:
            wanted |= Q(email__in=emails, merged_into__isnull=True)
        return Customer.objects.for_team(team).filter(wanted)

    def add(self, customer):
        if customer.pk is not None:
            self.by_pk[customer.pk] = customer
        self.order[id(customer)] = (customer.created_at, 0, customer.pk) if customer.pk else None
        if customer.merged_into_id is None:
            for key in self.KEYS:
                self._index(key, customer, getattr(customer, key))

    def _index(self, key, customer, value):
        if value:
            self.index[key].setdefault(value, []).append(customer)

    def _unindex(self, key, customer, value):
        if value:
            bucket = self.index[key].get(value, [])
            if customer in bucket:
                bucket.remove(customer)

    def new(self, seq, **fields):
        customer = Customer(team=self.team, **fields)
        self.add(customer)
        self.order[id(customer)] = (customer.created_at, 1, seq)  # inserted after every existing row, in order
        return customer

    def set(self, customer, key, value):
        if key in self.KEYS and customer.merged_into_id is None:
            self._unindex(key, customer, getattr(customer, key))
            self._index(key, customer, value)
        setattr(customer, key, value)

    def absorbed(self, customer):
        for key in self.KEYS:
            self._unindex(key, customer, getattr(customer, key))

    def reindex(self, customer):
        for key in self.KEYS:
            self._unindex(key, customer, getattr(customer, key))
            self._index(key, customer, getattr(customer, key))

    def resolve(self, ident):
        """resolve() over the rows in memory (same order of rules)."""
        if ident.member_id:
            for customer in self.index["member_id"].get(ident.member_id, []):
                return customer

        def compatible(customer):
            return not customer.member_id or customer.member_id == ident.member_id

        for key, switch in (("phone", self.team.match_by_phone), ("email", self.team.match_by_email)):
            value = getattr(ident, key)
            if value and switch:
                found = [c for c in self.index[key].get(value, []) if compatible(c)]
                if found:
                    return min(found, key=lambda c: self.order[id(c)])
        return None
