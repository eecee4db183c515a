#!/usr/bin/env python3
"""A desktop's tray, as capdeck meets it on Linux: a StatusNotifierWatcher (and a host that
shows icons) on the session D-Bus, written with jeepney, independent of capdeck's ksni.

It serves org.kde.StatusNotifierWatcher and prints one JSON line per event on stdout:
  {"event": "registered", "service": ..., "sender": ...}
and answers commands read from stdin, one per line, each with one JSON line:
  props            the item's org.kde.StatusNotifierItem properties (the icon as w, h, bytes)
  layout           the item's menu (com.canonical.dbusmenu GetLayout): id, label, enabled,
                   toggle-type, toggle-state of each entry
  click LABEL      the menu entry called LABEL is clicked (dbusmenu Event "clicked")
  activate         the icon is clicked (StatusNotifierItem.Activate)
Errors are {"error": "..."} lines; the watcher goes on.
"""
import json
import sys
import threading

from jeepney import (DBusAddress, HeaderFields, MessageType, new_error, new_method_call,
                     new_method_return, new_signal)
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

WATCHER = "org.kde.StatusNotifierWatcher"
ITEM = "org.kde.StatusNotifierItem"
MENU = "com.canonical.dbusmenu"
PROPS = "org.freedesktop.DBus.Properties"

items = []  # (service, sender)
lock = threading.Lock()
out_lock = threading.Lock()


def say(obj):
    with out_lock:
        print(json.dumps(obj), flush=True)


def watcher_props():
    with lock:
        registered = [s for s, _ in items]
    return {
        "RegisteredStatusNotifierItems": ("as", registered),
        "IsStatusNotifierHostRegistered": ("b", True),
        "ProtocolVersion": ("i", 0),
    }


def serve(conn):
    path = DBusAddress("/StatusNotifierWatcher", interface=WATCHER)
    while True:
        msg = conn.receive()
        h = msg.header
        if h.message_type != MessageType.method_call:
            continue
        member = h.fields.get(HeaderFields.member)
        iface = h.fields.get(HeaderFields.interface)
        sender = h.fields.get(HeaderFields.sender)
        try:
            if member == "RegisterStatusNotifierItem":
                service = msg.body[0]
                with lock:
                    items.append((service, sender))
                conn.send(new_method_return(msg))
                conn.send(new_signal(path, "StatusNotifierItemRegistered", "s", (service,)))
                say({"event": "registered", "service": service, "sender": sender})
            elif member == "RegisterStatusNotifierHost":
                conn.send(new_method_return(msg))
            elif iface == PROPS and member == "Get":
                props = watcher_props()
                conn.send(new_method_return(msg, "v", (props[msg.body[1]],)))
            elif iface == PROPS and member == "GetAll":
                conn.send(new_method_return(msg, "a{sv}", (watcher_props(),)))
            elif member == "Introspect":
                conn.send(new_method_return(msg, "s", ("<node/>",)))
            else:
                conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", "s",
                                    (f"no method {member}",)))
        except Exception as e:  # a bad call is answered, never the end of the watcher
            conn.send(new_error(msg, "org.freedesktop.DBus.Error.Failed", "s", (str(e),)))


def item_address():
    with lock:
        if not items:
            raise RuntimeError("no item registered")
        service, sender = items[-1]
    if service.startswith("/"):
        return sender, service
    return service, "/StatusNotifierItem"


def call(conn, bus, path, iface, member, sig=None, body=()):
    msg = new_method_call(DBusAddress(path, bus_name=bus, interface=iface), member, sig, body)
    reply = conn.send_and_get_reply(msg, timeout=10)
    if reply.header.message_type == MessageType.error:
        raise RuntimeError(f"{member}: {reply.body}")
    return reply.body


def unvariant(v):
    sig, val = v
    if sig == "a(iiay)":
        return [[w, hgt, len(data), data[:4].hex()] for w, hgt, data in val]
    if sig == "(sa(iiay)ss)":
        return {"icon": val[0], "title": val[2], "description": val[3]}
    return val


def props(conn):
    bus, path = item_address()
    body = call(conn, bus, path, PROPS, "GetAll", "s", (ITEM,))
    return {k: unvariant(v) for k, v in body[0].items()}


def flatten(node, out):
    ident, p, children = node
    vals = {k: v[1] for k, v in p.items()}
    out.append({
        "id": ident,
        "label": vals.get("label", ""),
        "enabled": vals.get("enabled", True),
        "type": vals.get("type", "standard"),
        "toggle-type": vals.get("toggle-type", ""),
        "toggle-state": vals.get("toggle-state", -1),
        "visible": vals.get("visible", True),
    })
    for c in children:
        flatten(c[1], out)


def layout(conn):
    bus, path = item_address()
    menu = props(conn).get("Menu", "/MenuBar")
    revision, root = call(conn, bus, menu, MENU, "GetLayout", "iias", (0, -1, []))
    out = []
    flatten(root, out)
    return {"revision": revision, "items": out[1:]}


def click(conn, label):
    bus, path = item_address()
    menu = props(conn).get("Menu", "/MenuBar")
    entries = [e for e in layout(conn)["items"] if e["label"] == label]
    if not entries:
        raise RuntimeError(f"no menu entry {label!r}")
    call(conn, bus, menu, MENU, "Event", "isvu", (entries[0]["id"], "clicked", ("i", 0), 0))
    return {"clicked": label}


def main():
    service_conn = open_dbus_connection(bus="SESSION")
    reply = service_conn.send_and_get_reply(message_bus.RequestName(WATCHER))
    if reply.body[0] != 1:
        say({"error": f"cannot own {WATCHER}: {reply.body}"})
        return 1
    threading.Thread(target=serve, args=(service_conn,), daemon=True).start()
    say({"event": "watching"})
    client = open_dbus_connection(bus="SESSION")
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        try:
            if cmd == "props":
                say({"props": props(client)})
            elif cmd == "layout":
                say(layout(client))
            elif cmd == "click":
                say(click(client, arg))
            elif cmd == "activate":
                bus, path = item_address()
                call(client, bus, path, ITEM, "Activate", "ii", (0, 0))
                say({"activated": True})
            elif cmd:
                say({"error": f"unknown command {cmd!r}"})
        except Exception as e:
            say({"error": str(e)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
