"""Identity resolution: website members, bindings of channel contacts to them, merging and un-merging customers.

Rules (the README and the API docs repeat them):

Matching. An identity is (member id, phone, email); phone is normalised to E.164 with the team's default region,
email is lower-cased. The customer an identity names is looked up in this order, first hit wins:
  1. the active customer holding the member id;
  2. if the team's `match_by_phone` is on: the oldest active customer with that phone whose member id is empty
     or equal to the identity's;
  3. if the team's `match_by_email` is on: the same by email.
Only that one customer is used (other customers sharing a phone or email are not swept in).

Binding a contact (bind_contact). Let C be the contact's current customer and T the customer the identity names:
  - if C and the identity carry different member ids → "member_id_conflict", nothing changes;
  - if T is missing or is C → C takes the identity (fills its empty member id / phone / email);
  - otherwise C and T merge; the survivor is the one holding a member id (T when both are empty — the
    identity's customer); different member ids on C and T → "member_id_conflict", nothing changes.
  A Binding row (method, occurred_at) and a "binding" timeline event are written, the customer is marked bound
  (first-bound time/method = the earliest binding) and, when a member id is given, a member. The same binding
  again (same contact, same customer, same identity) is "already_bound" and writes nothing.

Merging (merge_customers) unions contacts, tags, bindings, orders and the timeline into the survivor; attribute
conflicts take the most recently written value (AttributeValue.updated_at, survivor on a tie); points add up and
the absorbed customer's points ledger rows move with them;
interaction / checkout times take the latest; bound and member flags are OR'ed with the earliest first-bound /
member-since kept; the survivor's empty member id / phone / email / name are filled from the absorbed customer.
Customers with different non-empty member ids are never merged (MemberIdConflict). The absorbed row stays, with
`merged_into` set, and a MergeRecord keeps the evidence and a snapshot of both customers.

Un-merging (unmerge) restores the absorbed customer from the snapshot (fields, contacts, tags, attribute values,
bindings, orders, timeline) and the survivor's own fields as they were before the merge. What happened after the
merge is attributed like this: anything tied to one of the absorbed customer's contacts (bindings of those
contacts, timeline events of those contacts) goes back with the contact; tags, attribute values and interaction
times changed after the merge stay on the survivor, and so do identity fields (member id, phone, email, name,
membership) written since when the member the survivor then holds is its own (not the absorbed customer's, whose
logins they were otherwise); points earned or spent after the merge stay on the survivor
(the absorbed customer gets back exactly its balance at merge time and its ledger rows, the survivor keeps the rest,
never below 0 unless the team allows negative balances; an `unmerge` ledger row records any difference).
A merge whose survivor has since been absorbed by another merge cannot be undone until that one is.

Concurrency: on PostgreSQL each identity key (member id, phone, email) is serialised with a transaction-level
advisory lock, the customers touched are locked with SELECT ... FOR UPDATE in id order, and the partial unique
constraint on (team, member_id) is the backstop (an IntegrityError retries the resolution once more).
"""

from .bind import bind_contact, bind_to_contact, binding_updates, identify_member, identify_updates  # noqa: F401
from .index import CustomerIndex  # noqa: F401
from .merge import _merge_locked, merge_customers  # noqa: F401
from .resolve import (  # noqa: F401
    MAX_MEMBER_ID,
    BindResult,
    Identity,
    MemberIdConflict,
    UnmergeError,
    lock_identities,
    normalize_identity,
    resolve,
)
from .unmerge import unmerge  # noqa: F401
