"""The journey graph: a top-down chain of nodes; a split node opens a yes chain and a no chain.

Stored JSON (draft and every published version):

    {"nodes": [
        {"id": "n1", "type": "delay", "config": {"days": 1, "hours": 0, "minutes": 0}},
        {"id": "n2", "type": "split", "config": {"conditions": {"op": "and", "children": [...]}},
         "yes": [{"id": "n3", "type": "message", "config": {...}}],
         "no": []},
    ]}

Node types and their config:
- message:   {"channel_id": int, "kind": "module" | "whatsapp_template", "module_id": int,
              "template_id": int, "parameters": [str]}, or on a WeChat channel
             {"channel_id": int, "kind": "wechat_template", "template_id": str, "data": {key: str}, "url"?: str}
- delay:     {"days": int, "hours": int, "minutes": int}  (at least one, total not zero)
- split:     {"conditions": <audiences condition tree>}  evaluated for the customer when they arrive
- tags:      {"add": [name], "remove": [name]}  (never the same tag in both)
- attribute: {"key": str, "value": str}  (text attributes only)
- points:    {"op": "add" | "deduct", "amount": int > 0}

A branch ends the journey for the customer when its chain ends (branches do not rejoin).
Node ids are stable across versions: editing a node's contents keeps its id, so waiting customers can be
moved node-by-node to a new version.
"""

import secrets
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from audiences.conditions import referenced_attribute_keys

NODE_TYPES = ("message", "delay", "split", "tags", "attribute", "points")


def new_node_id():
    return "n" + secrets.token_hex(4)


def empty_graph():
    return {"nodes": []}


@dataclass
class Compiled:
    start: str | None
    nodes: dict = field(default_factory=dict)  # id -> {"type", "config", "next", "yes", "no", "depth"}
    order: list = field(default_factory=list)  # ids in display order


def compile_graph(graph):
    """Flatten the nested chains into id -> node with explicit successors."""
    compiled = Compiled(start=None)

    def walk(chain, depth, branch):
        ids = []
        for node in chain or []:
            nid = node["id"]
            ids.append(nid)
            compiled.order.append(nid)
            entry = {
                "id": nid,
                "type": node.get("type"),
                "config": node.get("config") or {},
                "next": None,
                "yes": None,
                "no": None,
                "depth": depth,
                "branch": branch,
            }
            compiled.nodes[nid] = entry
            if entry["type"] == "split":
                yes_ids = walk(node.get("yes"), depth + 1, "yes")
                no_ids = walk(node.get("no"), depth + 1, "no")
                entry["yes"] = yes_ids[0] if yes_ids else None
                entry["no"] = no_ids[0] if no_ids else None
        for current, following in zip(ids, ids[1:], strict=False):
            # A split's successors are its branches: nodes after a split in the same chain are not allowed.
            if compiled.nodes[current]["type"] != "split":
                compiled.nodes[current]["next"] = following
        return ids

    top = walk((graph or {}).get("nodes"), 0, "")
    compiled.start = top[0] if top else None
    return compiled


def iter_nodes(graph):
    def walk(chain):
        for node in chain or []:
            yield node
            if node.get("type") == "split":
                yield from walk(node.get("yes"))
                yield from walk(node.get("no"))

    yield from walk((graph or {}).get("nodes"))


def find_node(graph, node_id):
    for node in iter_nodes(graph):
        if node.get("id") == node_id:
            return node
    return None


def _locate(chain, node_id):
    """(list containing the node, index) or (None, None)."""
    for index, node in enumerate(chain):
        if node.get("id") == node_id:
            return chain, index
        if node.get("type") == "split":
            for key in ("yes", "no"):
                found = _locate(node.setdefault(key, []), node_id)
                if found[0] is not None:
                    return found
    return None, None


def insert_node(graph, node, *, after=None, parent=None, branch=None):
    """Insert `node` at the top of the graph, after node `after`, or at the top of `parent`'s yes/no branch."""
    graph.setdefault("nodes", [])
    if after:
        chain, index = _locate(graph["nodes"], after)
        if chain is None:
            raise KeyError(after)
        if chain[index].get("type") == "split":
            raise ValueError(_("分眾條件節點之後請在「是」或「否」分支中新增節點。"))
        chain.insert(index + 1, node)
    elif parent:
        chain, index = _locate(graph["nodes"], parent)
        if chain is None or chain[index].get("type") != "split" or branch not in ("yes", "no"):
            raise KeyError(parent)
        chain[index].setdefault(branch, []).insert(0, node)
    else:
        graph["nodes"].insert(0, node)
    if node.get("type") == "split":
        node.setdefault("yes", [])
        node.setdefault("no", [])
        # Whatever followed the split in its chain moves into its yes branch, so nothing dangles after it.
        chain, index = _locate(graph["nodes"], node["id"])
        tail = chain[index + 1 :]
        del chain[index + 1 :]
        node["yes"] = node["yes"] + tail
    return node


def remove_node(graph, node_id):
    chain, index = _locate(graph.get("nodes", []), node_id)
    if chain is None:
        raise KeyError(node_id)
    removed = chain.pop(index)
    if removed.get("type") == "split":
        # Keep the yes branch in place of the split; the no branch goes with it.
        for offset, node in enumerate(removed.get("yes") or []):
            chain.insert(index + offset, node)
    return removed


def replace_config(graph, node_id, config):
    node = find_node(graph, node_id)
    if node is None:
        raise KeyError(node_id)
    node["config"] = config
    return node


def structure(graph):
    """The graph's shape without contents: equal for two graphs that differ only in node contents."""

    def walk(chain):
        out = []
        for node in chain or []:
            item = [node.get("id"), node.get("type")]
            if node.get("type") == "split":
                item += [walk(node.get("yes")), walk(node.get("no"))]
            out.append(item)
        return out

    return walk((graph or {}).get("nodes"))


def referenced(graph, *, trigger_type="", trigger_config=None):
    """Everything a journey depends on, collected from every place that names it: message nodes (module ids,
    template ids, channel ids), attribute nodes (the key they write), tag nodes (names added or removed), split
    nodes' conditions (attribute keys and tag names they test) and the trigger (自訂屬性異動's attribute key,
    貼上任一標籤's tags). The automatic stops (signals.py) ask this one function."""
    refs = {"modules": set(), "templates": set(), "attributes": set(), "channels": set(), "tags": set()}
    for node in iter_nodes(graph):
        config = node.get("config") or {}
        kind = node.get("type")
        if kind == "message":
            if config.get("kind") == "whatsapp_template" and config.get("template_id"):
                refs["templates"].add(int(config["template_id"]))
            elif config.get("kind", "module") == "module" and config.get("module_id"):
                refs["modules"].add(int(config["module_id"]))
            if config.get("channel_id"):
                refs["channels"].add(int(config["channel_id"]))
        elif kind == "attribute" and config.get("key"):
            refs["attributes"].add(config["key"])
        elif kind == "tags":
            refs["tags"].update(config.get("add") or [])
            refs["tags"].update(config.get("remove") or [])
        elif kind == "split":
            conditions = config.get("conditions") or {}
            refs["attributes"] |= referenced_attribute_keys(conditions)
            refs["tags"] |= _condition_tags(conditions)
    config = trigger_config if isinstance(trigger_config, dict) else {}
    if trigger_type == "attribute_changed" and isinstance(config.get("key"), str) and config["key"]:
        refs["attributes"].add(config["key"])
    elif trigger_type == "tag_added":
        tags = config.get("tags")
        tags = tags if isinstance(tags, list) else [config.get("tag")]  # the old {"tag": name}
        refs["tags"].update(tag for tag in tags if isinstance(tag, str) and tag)
    return refs


def _condition_tags(tree):
    """Tag names a condition tree tests (tag conditions: {"type": "tag", "tags": [...]})."""
    found = set()

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "tag":
                found.update(tag for tag in node.get("tags") or [] if isinstance(tag, str))
            for child in node.get("children") or []:
                walk(child)

    walk(tree)
    return found
