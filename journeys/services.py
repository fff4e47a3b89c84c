"""Journey operations: create, edit, publish (versions), status changes, copy, delete, moving waiting customers.

Every status change goes through `change_status`, which checks the transition table of statemachine.py and
records a StatusChange row with its reason and time.
"""

import copy as copylib
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Case, Count, F, Max, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts import queues
from accounts.models import Team
from cdp.models import Channel, ChannelKind, CustomerEvent, EventType, MergeRecord
from core.errors import ServiceError

from . import graph as g
from .models import (
    Activation,
    Enrollment,
    EnrollmentState,
    Journey,
    JourneyChannel,
    JourneyVersion,
    MergeTransfer,
    MergeTransferKind,
    StatusChange,
    TriggerCounter,
    normalize_trigger_config,
)
from .statemachine import (
    AUTOMATIC_TARGET,
    LIVE,
    JourneyStatus,
    StatusReason,
    TransitionError,
    allows,
    can_edit,
    check_transition,
)
from .triggers import wake_engine
from .validation import validate_dnd, validate_for_publish, validate_node, validate_trigger

S = JourneyStatus
CAPPABLE = (ChannelKind.LINE, ChannelKind.WHATSAPP)


class JourneyError(ServiceError):
    """A refused operation; message_dict names the field (or node) at fault."""

    default_code = "journey_invalid"


# ---------------------------------------------------------------- create / edit


def create_journey(*, team, name, trigger_type="checkout_completed", trigger_config=None):
    if not (name or "").strip():
        raise JourneyError({"name": [_("請輸入旅程名稱。")]})
    return Journey.objects.create(
        team=team,
        name=name.strip()[:200],
        trigger_type=trigger_type,
        trigger_config=normalize_trigger_config(trigger_type, trigger_config),
        draft_graph=g.empty_graph(),
    )


def _require(journey, part):
    if not can_edit(journey.status, part):
        raise JourneyError({part: [_("此狀態下無法修改這個項目。")]})


def update_settings(journey, *, values):
    """Edit the journey's settings. `values` may hold: name, trigger_type, trigger_config, activation, starts_at,
    ends_at, expiry_action, dnd_segments, per_customer_limit, holdout_percent, channels [{"channel_id",
    "message_cap"}]. What may change depends on the status (seed 002). All-or-nothing."""
    errors = {}
    changes = {}
    if "trigger_config" in values:
        trigger_type = values.get("trigger_type", journey.trigger_type)
        values = {**values, "trigger_config": normalize_trigger_config(trigger_type, values["trigger_config"])}
    if "name" in values:
        name = (values["name"] or "").strip()
        if not name:
            errors["name"] = [_("請輸入旅程名稱。")]
        changes["name"] = name[:200]
    for key in ("trigger_type", "trigger_config"):
        if key in values and values[key] != getattr(journey, key):
            if not can_edit(journey.status, "trigger"):
                errors[key] = [_("旅程發佈後無法修改觸發條件。")]
            changes[key] = values[key]
    if changes.get("trigger_type", journey.trigger_type) not in dict(Journey._meta.get_field("trigger_type").choices):
        errors["trigger_type"] = [_("未知的觸發類型。")]
    elif not errors.get("trigger_type") and not errors.get("trigger_config"):
        for key, message in validate_trigger(
            journey.team, changes.get("trigger_type", journey.trigger_type), values.get("trigger_config", {})
        ).items():
            if "trigger_config" in values:
                errors[f"trigger_config.{key}"] = [message]
    for key in ("activation", "starts_at", "ends_at"):
        if key in values and values[key] != getattr(journey, key):
            if not can_edit(journey.status, "activation"):
                errors[key] = [_("目標渠道與啟用時間僅能在草稿時修改。")]
            changes[key] = values[key]
    if changes.get("activation", journey.activation) not in Activation.values:
        errors["activation"] = [_("請選擇永久啟用或排程。")]
    for key in ("expiry_action", "dnd_segments", "per_customer_limit", "holdout_percent"):
        if key in values and values[key] != getattr(journey, key):
            if not can_edit(journey.status, "settings"):
                errors[key] = [_("此狀態下無法修改這個項目。")]
            changes[key] = values[key]
    if "expiry_action" in changes and changes["expiry_action"] not in ("close_trigger", "stop"):
        errors["expiry_action"] = [_("請選擇關閉觸發或停止旅程。")]
    if "dnd_segments" in changes:
        for key, message in validate_dnd(changes["dnd_segments"]).items():
            errors[key] = [message]
    if "per_customer_limit" in changes and changes["per_customer_limit"] is not None:
        if not isinstance(changes["per_customer_limit"], int) or changes["per_customer_limit"] < 1:
            errors["per_customer_limit"] = [_("觸發次數上限需為 1 以上的整數，或留白表示不限。")]
    if "holdout_percent" in changes:
        value = changes["holdout_percent"]
        if not isinstance(value, int) or not 0 <= value <= 50:
            errors["holdout_percent"] = [_("保留組比例需介於 0 與 50 之間。")]
    channel_rows = None
    if "channels" in values:
        channel_rows, channel_errors = _clean_channels(journey, values["channels"])
        errors.update(channel_errors)
    if changes.get("activation", journey.activation) == Activation.SCHEDULED:
        start, end = changes.get("starts_at", journey.starts_at), changes.get("ends_at", journey.ends_at)
        if start and end and start >= end:
            errors["ends_at"] = [_("結束時間需晚於開始時間。")]
    if errors:
        raise JourneyError(errors)
    with transaction.atomic():
        for key, value in changes.items():
            setattr(journey, key, value)
        journey.save()
        if channel_rows is not None:
            _save_channels(journey, channel_rows)
    return journey


def _clean_channels(journey, rows):
    errors = {}
    wanted = {}
    current = {t.channel_id: t for t in journey.targets.all()}
    for index, row in enumerate(rows or []):
        try:
            channel_id = int(row.get("channel_id"))
        except (TypeError, ValueError):
            errors[f"channels[{index}]"] = [_("未知的渠道。")]
            continue
        channel = Channel.objects.for_team(journey.team).filter(pk=channel_id).first()
        if channel is None:
            errors[f"channels[{index}]"] = [_("未知的渠道。")]
            continue
        cap = row.get("message_cap")
        if cap in ("", None):
            cap = None
        else:
            try:
                cap = int(cap)
                if cap < 1:
                    raise ValueError
            except (TypeError, ValueError):
                errors[f"channels[{index}].message_cap"] = [_("訊息量上限需為 1 以上的整數。")]
                continue
            if channel.kind not in CAPPABLE:
                cap = None
        wanted[channel.pk] = cap
    if set(wanted) != set(current) and not can_edit(journey.status, "channels"):
        errors["channels"] = [_("目標渠道與啟用時間僅能在草稿時修改。")]
    changed_caps = any(current[c].message_cap != cap for c, cap in wanted.items() if c in current)
    if changed_caps and not can_edit(journey.status, "settings"):
        errors["channels"] = [_("此狀態下無法修改這個項目。")]
    return wanted, errors


def _save_channels(journey, wanted):
    journey.targets.exclude(channel_id__in=list(wanted)).delete()
    current = {t.channel_id: t for t in journey.targets.all()}
    for channel_id, cap in wanted.items():
        if channel_id in current:
            if current[channel_id].message_cap != cap:
                current[channel_id].message_cap = cap
                current[channel_id].save(update_fields=["message_cap"])
        else:
            JourneyChannel.objects.create(team=journey.team, journey=journey, channel_id=channel_id, message_cap=cap)


# ---------------------------------------------------------------- nodes (draft graph)


def _editable_graph(journey, *, structural):
    _require(journey, "structure" if structural else "node_contents")
    if not journey.draft_graph:
        journey.draft_graph = copylib.deepcopy(journey.current_version.graph) if journey.current_version else {}
    journey.draft_graph.setdefault("nodes", [])
    return journey.draft_graph


def add_node(journey, *, type, after=None, parent=None, branch=None):
    if type not in g.NODE_TYPES:
        raise JourneyError({"type": [_("未知的節點類型。")]})
    graph = _editable_graph(journey, structural=True)
    defaults = {
        "message": {"kind": "module"},
        "delay": {"days": 0, "hours": 1, "minutes": 0},
        "split": {"conditions": {"op": "and", "children": []}},
        "tags": {"add": [], "remove": []},
        "attribute": {"key": "", "value": ""},
        "points": {"op": "add", "amount": 1},
    }
    node = {"id": g.new_node_id(), "type": type, "config": defaults[type]}
    try:
        g.insert_node(graph, node, after=after, parent=parent, branch=branch)
    except KeyError:
        raise JourneyError({"position": [_("找不到插入位置。")]})
    except ValueError as error:
        raise JourneyError({"position": [str(error)]})
    journey.has_unpublished_changes = True
    journey.save(update_fields=["draft_graph", "has_unpublished_changes", "updated_at"])
    return node


def update_node(journey, node_id, config):
    """Validate the node (seed 002 §2 rules) and store it in the draft; nothing is stored when invalid."""
    graph = _editable_graph(journey, structural=False)
    node = g.find_node(graph, node_id)
    if node is None:
        raise JourneyError({"node": [_("找不到節點。")]})
    candidate = {**node, "config": config}
    channel_ids = list(journey.targets.values_list("channel_id", flat=True))
    errors = validate_node(journey.team, candidate, channel_ids)
    if errors:
        raise JourneyError({key: [value] for key, value in errors.items()})
    node["config"] = config
    journey.has_unpublished_changes = True
    journey.save(update_fields=["draft_graph", "has_unpublished_changes", "updated_at"])
    return node


def delete_node(journey, node_id):
    graph = _editable_graph(journey, structural=True)
    try:
        g.remove_node(graph, node_id)
    except KeyError:
        raise JourneyError({"node": [_("找不到節點。")]})
    journey.has_unpublished_changes = True
    journey.save(update_fields=["draft_graph", "has_unpublished_changes", "updated_at"])


def set_graph(journey, graph):
    """Replace the whole draft graph (API). Live journeys may change node contents only, not the structure."""
    if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list):
        raise JourneyError({"graph": [_("流程格式錯誤。")]})
    if not can_edit(journey.status, "structure"):
        _require(journey, "node_contents")
        base = journey.current_version.graph if journey.current_version else {}
        if g.structure(graph) != g.structure(base):
            raise JourneyError({"graph": [_("旅程發佈後僅能修改節點內容，無法新增或刪除節點。")]})
    journey.draft_graph = graph
    journey.has_unpublished_changes = True
    journey.save(update_fields=["draft_graph", "has_unpublished_changes", "updated_at"])


# ---------------------------------------------------------------- publish and versions


def publish(journey, *, actor="", now=None):
    """Validate the whole graph and create a new immutable version.

    A draft becomes active (permanent) or scheduled; a live or stopped journey gets a new version for new
    entrants and keeps its status. Raises JourneyError naming every bad node ("nodes.<id>.<field>")."""
    now = now or timezone.now()
    graph = (
        journey.draft_graph
        if journey.draft_graph
        else (journey.current_version.graph if journey.current_version else {})
    )
    if journey.status not in (S.DRAFT, S.ACTIVE, S.SCHEDULED, S.STOPPED):
        raise JourneyError({"status": [_("此狀態下無法發佈。")]})
    if journey.current_version and g.structure(graph) != g.structure(journey.current_version.graph):
        if journey.status != S.DRAFT:
            raise JourneyError({"graph": [_("旅程發佈後僅能修改節點內容，無法新增或刪除節點。")]})
    result = validate_for_publish(journey, graph)
    errors = {key: [message] for key, message in result["settings"].items()}
    for node_id, node_errors in result["nodes"].items():
        for key, message in node_errors.items():
            errors[f"nodes.{node_id}.{key}"] = [message]
    if journey.status == S.DRAFT and journey.activation == Activation.SCHEDULED and journey.ends_at:
        if journey.ends_at <= now:
            errors["ends_at"] = [_("排程結束時間已過。")]
    if errors:
        raise JourneyError(errors)
    with transaction.atomic():
        locked = Journey.objects.select_for_update().get(pk=journey.pk)
        number = (locked.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        version = JourneyVersion.objects.create(
            team=locked.team, journey=locked, number=number, graph=copylib.deepcopy(graph), published_by=actor
        )
        locked.current_version = version
        locked.draft_graph = {}
        locked.has_unpublished_changes = False
        # The team's plan in force when the journey is published caps its triggers (enforced in triggers.py).
        locked.max_triggers = Team.objects.values_list("journey_trigger_limit", flat=True).get(pk=locked.team_id)
        locked.save(
            update_fields=["current_version", "draft_graph", "has_unpublished_changes", "max_triggers", "updated_at"]
        )
        if locked.status == S.DRAFT:
            if locked.activation == Activation.SCHEDULED and locked.starts_at and locked.starts_at > now:
                target = S.SCHEDULED
            else:
                target = S.ACTIVE
            change_status(locked, target, event="publish", reason=StatusReason.PUBLISHED, actor=actor, now=now)
    journey.refresh_from_db()
    return version


def version_node_counts(journey):
    """{version_id: {node_id: waiting}} for older versions with customers still inside."""
    rows = (
        Enrollment.objects.for_team(journey.team)
        .filter(journey=journey, state=EnrollmentState.ACTIVE)
        .exclude(version_id=journey.current_version_id)
        .values("version_id", "node")
        .annotate(n=Count("id"))
    )
    out = {}
    for row in rows:
        out.setdefault(row["version_id"], {})[row["node"]] = row["n"]
    return out


@dataclass
class MoveResult:
    count: int
    applied: bool


def move_targets(journey):
    """The nodes of the current version that waiting customers can be moved to: every node (the engine can start
    a customer at any node), in display order."""
    version = journey.current_version
    return list(g.iter_nodes(version.graph)) if version else []


def move_waiting(journey, *, from_version, node_id, to_node=None, dry_run=True, now=None):
    """Move customers waiting on `node_id` of an older version to node `to_node` of the current version
    (default: the node with the same id). Set-based, in one transaction.

    To the same node they keep their wait (a delay started on the old version ends when it would have); to a
    different node they arrive there now, as if they had just reached it (a delay starts over, a message is sent
    on the next engine run). Rows a worker holds right now stay where they are."""
    now = now or timezone.now()
    target = journey.current_version
    if target is None or from_version.journey_id != journey.pk or from_version.pk == target.pk:
        raise JourneyError({"version": [_("請選擇較舊的版本。")]})
    to_node = to_node or node_id
    if g.find_node(target.graph, to_node) is None:
        message = _("新版本沒有這個節點，無法移動。") if to_node == node_id else _("請選擇新版本中的節點。")
        raise JourneyError({"to_node": [message]})
    queryset = Enrollment.objects.for_team(journey.team).filter(
        journey=journey, version=from_version, node=node_id, state=EnrollmentState.ACTIVE
    )
    if dry_run:
        return MoveResult(count=queryset.filter(claimed_until__isnull=True).count(), applied=False)
    changes = {"version": target}
    if to_node != node_id:
        changes.update(node=to_node, waiting=False, next_run_at=now)
    with transaction.atomic():
        moved = queryset.filter(claimed_until__isnull=True).update(**changes)
    return MoveResult(count=moved, applied=True)


# ---------------------------------------------------------------- status changes


def change_status(journey, to_status, *, event, reason="", actor="", now=None):
    """Move a journey along the transition table, recording reason and time. Idempotent when already there."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = Journey.objects.select_for_update().get(pk=journey.pk)
        if locked.status == to_status:
            return locked
        check_transition(locked.status, to_status, event)
        StatusChange.objects.create(
            team=locked.team,
            journey=locked,
            from_status=locked.status,
            to_status=to_status,
            reason=reason,
            actor=actor,
            at=now,
        )
        locked.status = to_status
        locked.status_reason = reason
        locked.status_changed_at = now
        locked.save(update_fields=["status", "status_reason", "status_changed_at", "updated_at"])
    journey.status, journey.status_reason, journey.status_changed_at = to_status, reason, now
    if to_status == S.STOPPING:
        transaction.on_commit(lambda: _hint_halt(journey.team_id, journey.pk))
    return journey


def _hint_halt(team_id, journey_id):
    """A hint: the per-minute tick halts stopping journeys anyway."""
    queues.Hint("journeys.tasks.halt_journey", team_id, journey_id)()


def auto_change(journey, reason, *, now=None):
    """An automatic change of seed 002's table (stop, or close the trigger when the plan limit is reached)."""
    target = AUTOMATIC_TARGET[StatusReason(reason)]
    if journey.status not in LIVE:
        return journey
    if target == S.TRIGGER_CLOSED and journey.status != S.ACTIVE:
        return journey
    return change_status(journey, target, event="auto", reason=reason, now=now)


def run_action(journey, action, *, actor=""):
    """The list's actions: close_trigger, stop, copy, delete (edit and view are pages)."""
    if not allows(journey.status, action):
        raise JourneyError({"action": [_("此狀態下無法執行這個動作。")]})
    if action == "close_trigger":
        return change_status(journey, S.TRIGGER_CLOSED, event="close_trigger", reason=StatusReason.MANUAL, actor=actor)
    if action == "stop":
        change_status(journey, S.STOPPING, event="stop", reason=StatusReason.MANUAL, actor=actor)
        halt_stopping(journey)
        return journey
    if action == "copy":
        return copy_journey(journey)
    if action == "delete":
        journey.delete()
        return None
    raise JourneyError({"action": [_("未知的動作。")]})


def halt_stopping(journey, *, now=None):
    """Halt in-flight customers of a stopping journey; once none is left the journey becomes stopped."""
    now = now or timezone.now()
    if journey.status != S.STOPPING:
        return 0
    with transaction.atomic():
        halted = (
            Enrollment.objects.for_team(journey.team)
            .filter(journey=journey, state=EnrollmentState.ACTIVE, claimed_until__isnull=True)
            .update(state=EnrollmentState.HALTED, finished_at=now, reason="journey stopped")
        )
    remaining = Enrollment.objects.for_team(journey.team).filter(journey=journey, state=EnrollmentState.ACTIVE)
    if not remaining.exists():
        try:
            change_status(journey, S.STOPPED, event="all_halted", reason=journey.status_reason, now=now)
        except TransitionError:
            pass  # someone else moved it on meanwhile
    return halted


def copy_journey(journey):
    graph = journey.draft_graph or (journey.current_version.graph if journey.current_version else g.empty_graph())
    with transaction.atomic():
        clone = Journey.objects.create(
            team=journey.team,
            name=(_("%(name)s（複製）") % {"name": journey.name})[:200],
            trigger_type=journey.trigger_type,
            trigger_config=copylib.deepcopy(journey.trigger_config),
            activation=journey.activation,
            starts_at=journey.starts_at,
            ends_at=journey.ends_at,
            expiry_action=journey.expiry_action,
            dnd_segments=copylib.deepcopy(journey.dnd_segments),
            per_customer_limit=journey.per_customer_limit,
            holdout_percent=journey.holdout_percent,
            draft_graph=copylib.deepcopy(graph),
        )
        JourneyChannel.objects.bulk_create(
            [
                JourneyChannel(team=journey.team, journey=clone, channel_id=t.channel_id, message_cap=t.message_cap)
                for t in journey.targets.all()
            ]
        )
    return clone


def apply_schedule(team=None, *, now=None):
    """Scheduled journeys start at starts_at; at ends_at a journey applies its expiry action. Returns changes."""
    now = now or timezone.now()
    changed = 0
    base = Journey.objects.all() if team is None else Journey.objects.for_team(team)
    for journey in base.filter(status=S.SCHEDULED, starts_at__lte=now, activation=Activation.SCHEDULED):
        if journey.ends_at and journey.ends_at <= now:
            _expire(journey, now)
        else:
            change_status(journey, S.ACTIVE, event="schedule_start", reason=StatusReason.SCHEDULE_STARTED, now=now)
        changed += 1
    expiring = base.filter(status__in=[S.ACTIVE, S.TRIGGER_CLOSED], activation=Activation.SCHEDULED, ends_at__lte=now)
    for journey in expiring:
        if journey.expiry_action == "close_trigger" and journey.status == S.TRIGGER_CLOSED:
            continue
        _expire(journey, now)
        changed += 1
    return changed


def _expire(journey, now):
    if journey.expiry_action == "close_trigger" and journey.status == S.ACTIVE:
        change_status(journey, S.TRIGGER_CLOSED, event="expire", reason=StatusReason.SCHEDULE_EXPIRED, now=now)
    elif journey.expiry_action == "stop" or journey.status == S.SCHEDULED:
        change_status(journey, S.STOPPING, event="expire", reason=StatusReason.SCHEDULE_EXPIRED, now=now)
        halt_stopping(journey, now=now)


# --- customer merges and un-merges (cdp's "merged" / "unmerged" timeline events) -------------------------------

# Enrollment.reason of an enrollment ended by a merge (zh-Hant stored, English in journeys' .po).
MERGE_ENDED_REASON = gettext_noop("顧客合併：同一旅程保留進度較前的參與，此筆結束")


def follow_customer_events(team, event_ids):
    """Apply the merges and un-merges among these timeline events to journeys, in event order, once per merge
    record (each merge writes two events, one per customer). Idempotent: the hand-off may deliver twice."""
    rows = (
        CustomerEvent.objects.for_team(team)
        .filter(pk__in=list(event_ids), type__in=[EventType.MERGED, EventType.UNMERGED])
        .order_by("id")
        .values_list("type", "data")
    )
    done, count = set(), 0
    for event_type, data in rows:
        merge_id = (data or {}).get("merge_id")
        if not isinstance(merge_id, int) or (event_type, merge_id) in done:
            continue
        done.add((event_type, merge_id))
        follow = follow_merge if event_type == EventType.MERGED else follow_unmerge
        count += follow(team, merge_id)
    return count


def _progress(enrollments):
    """{enrollment id: (distinct nodes executed, entered_at, id)} — how far along each enrollment is."""
    rows = enrollments.annotate(done=Count("steps__node", distinct=True)).values_list("pk", "done", "entered_at")
    return {pk: (done, entered_at, pk) for pk, done, entered_at in rows}


def _further(a, b):
    """Whether progress `a` is further along than `b`: more distinct nodes executed; on a tie the one that entered
    earlier; then the older row."""
    return (a[0], -a[1].timestamp(), -a[2]) > (b[0], -b[1].timestamp(), -b[2])


def follow_merge(team, merge_id, *, now=None):
    """A customer was merged into another: the absorbed customer's active enrollments and trigger counters go to
    the survivor. In a journey where both have active enrollments, the customer whose furthest-along enrollment is
    further along (_further) keeps theirs there, the other's end (state merged, MERGE_ENDED_REASON). Every change
    is recorded as a MergeTransfer so follow_unmerge can undo it. Returns the rows changed."""
    now = now or timezone.now()
    with transaction.atomic():
        record = MergeRecord.objects.for_team(team).select_for_update().filter(pk=merge_id).first()
        if record is None or record.unmerged_at is not None:
            return 0  # an un-merge already undid it (or the event arrived after it): nothing to follow
        survivor_id, absorbed_id = record.survivor_id, record.absorbed_id
        active = Enrollment.objects.for_team(team).filter(state=EnrollmentState.ACTIVE)
        theirs = active.filter(customer_id=absorbed_id)
        both = set(theirs.values_list("journey_id", flat=True)) & set(
            active.filter(customer_id=survivor_id).values_list("journey_id", flat=True)
        )
        ended = []
        if both:
            contested = active.filter(customer_id__in=[survivor_id, absorbed_id], journey_id__in=both)
            progress = _progress(contested)
            best = {}  # (journey, customer) -> furthest progress
            members = {}  # (journey, customer) -> enrollment ids
            for pk, journey_id, customer_id in contested.values_list("pk", "journey_id", "customer_id"):
                key = (journey_id, customer_id)
                members.setdefault(key, []).append(pk)
                if key not in best or _further(progress[pk], best[key]):
                    best[key] = progress[pk]
            for journey_id in both:
                absorbed_wins = _further(best[(journey_id, absorbed_id)], best[(journey_id, survivor_id)])
                ended += members[(journey_id, survivor_id if absorbed_wins else absorbed_id)]
        ending = list(
            Enrollment.objects.filter(pk__in=ended).values_list(
                "pk", "journey_id", "customer_id", "next_run_at", "waiting"
            )
        )
        moving = list(theirs.exclude(pk__in=ended).values_list("pk", "journey_id"))
        counters = list(
            TriggerCounter.objects.for_team(team).filter(customer_id=absorbed_id).values_list("journey_id", "count")
        )
        MergeTransfer.objects.bulk_create(
            [
                MergeTransfer(
                    team=team,
                    merge=record,
                    kind=MergeTransferKind.ENDED,
                    journey_id=journey_id,
                    enrollment_id=pk,
                    from_customer_id=customer_id,
                    next_run_at=next_run_at,
                    waiting=waiting,
                    at=now,
                )
                for pk, journey_id, customer_id, next_run_at, waiting in ending
            ]
            + [
                MergeTransfer(
                    team=team,
                    merge=record,
                    kind=MergeTransferKind.MOVED,
                    journey_id=journey_id,
                    enrollment_id=pk,
                    from_customer_id=absorbed_id,
                    at=now,
                )
                for pk, journey_id in moving
            ]
            + [
                MergeTransfer(
                    team=team,
                    merge=record,
                    kind=MergeTransferKind.COUNTER,
                    journey_id=journey_id,
                    from_customer_id=absorbed_id,
                    count=count,
                    at=now,
                )
                for journey_id, count in counters
            ],
            ignore_conflicts=True,
        )
        changed = Enrollment.objects.filter(pk__in=ended, state=EnrollmentState.ACTIVE).update(
            state=EnrollmentState.MERGED,
            finished_at=now,
            next_run_at=None,
            claimed_until=None,
            waiting=False,
            reason=MERGE_ENDED_REASON,
        )
        changed += Enrollment.objects.filter(pk__in=[pk for pk, _j in moving], customer_id=absorbed_id).update(
            customer_id=survivor_id
        )
        changed += _add_counts(team, survivor_id, counters)
        TriggerCounter.objects.for_team(team).filter(customer_id=absorbed_id).delete()
    return changed


def _add_counts(team, customer_id, counts):
    """Add {journey: n} to the customer's trigger counters (rows created where missing), one UPDATE in all."""
    counts = [(journey_id, n) for journey_id, n in counts if n]
    if not counts:
        return 0
    TriggerCounter.objects.bulk_create(
        [
            TriggerCounter(team=team, journey_id=journey_id, customer_id=customer_id, count=0)
            for journey_id, _n in counts
        ],
        ignore_conflicts=True,
    )
    return (
        TriggerCounter.objects.for_team(team)
        .filter(customer_id=customer_id, journey_id__in=[journey_id for journey_id, _n in counts])
        .update(count=F("count") + Case(*[When(journey_id=j, then=Value(n)) for j, n in counts], default=Value(0)))
    )


def follow_unmerge(team, merge_id, *, now=None):
    """The inverse of follow_merge, for what it recorded and has not undone yet: enrollments moved to the survivor
    go back to the restored customer (if still the survivor's), with those that entered after the merge through one
    of the restored customer's contacts (the contact goes back, so does what it started); enrollments ended by the
    merge resume where they were waiting; trigger counts go back (the survivor's never below 0)."""
    now = now or timezone.now()
    with transaction.atomic():
        record = MergeRecord.objects.for_team(team).select_for_update().filter(pk=merge_id).first()
        if record is None or record.unmerged_at is None:
            return 0
        survivor_id, absorbed_id = record.survivor_id, record.absorbed_id
        transfers = MergeTransfer.objects.for_team(team).filter(merge=record, returned_at__isnull=True)
        moved = transfers.filter(kind=MergeTransferKind.MOVED).values("enrollment_id")
        changed = (
            Enrollment.objects.for_team(team)
            .filter(pk__in=moved, customer_id=survivor_id)
            .update(customer_id=absorbed_id)
        )
        changed += (
            Enrollment.objects.for_team(team)
            .filter(
                customer_id=survivor_id,
                state=EnrollmentState.ACTIVE,
                entered_at__gte=record.merged_at,
                contact_id__in=list(record.snapshot.get("contact_ids") or []),
            )
            .update(customer_id=absorbed_id)
        )
        ended = list(
            transfers.filter(kind=MergeTransferKind.ENDED).values_list("enrollment_id", "next_run_at", "waiting")
        )
        if ended:
            changed += Enrollment.objects.filter(
                pk__in=[pk for pk, _n, _w in ended], state=EnrollmentState.MERGED
            ).update(
                state=EnrollmentState.ACTIVE,
                finished_at=None,
                reason="",
                claimed_until=None,
                # Where it was waiting; a wait that ended meanwhile is due now.
                next_run_at=Case(*[When(pk=pk, then=Value(at or now)) for pk, at, _w in ended], default=Value(now)),
                waiting=Case(*[When(pk=pk, then=Value(waiting)) for pk, _at, waiting in ended], default=Value(False)),
            )
        counters = list(transfers.filter(kind=MergeTransferKind.COUNTER).values_list("journey_id", "count"))
        if counters:
            survivor_counters = TriggerCounter.objects.for_team(team).filter(customer_id=survivor_id)
            for journey_id, count in counters:  # one row per journey of the merge
                survivor_counters.filter(journey_id=journey_id).update(
                    count=Case(When(count__gt=count, then=F("count") - count), default=Value(0))
                )
            changed += _add_counts(team, absorbed_id, counters)
        transfers.update(returned_at=now)
    if changed:
        transaction.on_commit(wake_engine)
    return changed
